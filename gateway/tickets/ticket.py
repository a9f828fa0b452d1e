"""The ticket as a value: what the API answers, what is published on MQTT and sent to webhooks."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, tzinfo
from typing import Any

from gateway.core.model import Value


def ticket_id(seq: int) -> str:
    """Short and readable, in the order tickets were opened: T-000123."""
    return f"T-{seq:06d}"


def ticket_seq(ticket_id: str) -> int | None:
    """The store's sequence number behind an id, or None when the text is not a ticket id."""
    prefix, _, digits = ticket_id.partition("-")
    if prefix != "T" or not digits.isdigit():
        return None
    return int(digits)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change, as the audit trail the service standards ask for keeps it."""

    at: datetime
    actor: str  # the holder of the token that acted over the API, a guard who reported it, or "system"
    action: str  # opened, acknowledged, resolved, closed, reopened, cancelled, escalated, ...
    note: str = ""
    from_status: str | None = None
    to_status: str | None = None

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return {"at": iso(self.at, tz), "actor": self.actor, "action": self.action, "note": self.note,
                "from": self.from_status, "to": self.to_status}


def iso(when: datetime | None, tz: tzinfo | None = None) -> str | None:
    if when is None:
        return None
    return (when.astimezone(tz) if tz is not None else when).isoformat()


@dataclass(slots=True)
class Ticket:
    """A fault followed to the end. Times are timezone-aware; the service gives them in site time.

    `seq` is the store's row number (0 until stored); `revision` counts changes and guards every
    update, so two gateways sharing a store cannot overwrite each other's work.
    """

    site: str
    rule: str
    device_id: str
    zone: str
    severity: str
    status: str
    title: str
    opened_at: datetime
    dedup_key: str
    seq: int = 0
    description: str = ""
    category: str = "general"
    kind: str = "unknown"
    labels: dict[str, str] = field(default_factory=dict)
    assignee: str | None = None
    occurrences: int = 1
    last_value: Value | None = None
    last_seen_at: datetime | None = None
    auto_resolve: bool = False
    condition_cleared: bool = False
    cleared_at: datetime | None = None
    # The SLA clock starts when the ticket opens and again when it is reopened.
    sla_started_at: datetime | None = None
    respond_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    revisit_due_at: datetime | None = None
    due_at: datetime | None = None  # the deadline of the current status (respond, resolve, revisit)
    overdue: bool = False
    escalation_level: int = 0
    next_escalation_at: datetime | None = None
    revisit_overdue: bool = False
    revisit_result: str | None = None  # "ok" | "failed", recorded when the ticket is closed
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    suppressed: int = 0  # symptom events this ticket muted (inhibition)
    revision: int = 0
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def id(self) -> str:
        return ticket_id(self.seq)

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        """The API shape (CONTRACT.md) plus the extra fields; times ISO 8601 with offset."""
        return {
            "id": self.id,
            "rule": self.rule,
            "device_id": self.device_id,
            "zone": self.zone,
            "severity": self.severity,
            "status": self.status,
            "title": self.title,
            "opened_at": iso(self.opened_at, tz),
            "due_at": iso(self.due_at, tz),
            "occurrences": self.occurrences,
            "assignee": self.assignee,
            "history": [h.to_json(tz) for h in self.history],
            "description": self.description,
            "category": self.category,
            "kind": self.kind,
            "labels": dict(self.labels),
            "dedup_key": self.dedup_key,
            "last_value": self.last_value,
            "last_seen_at": iso(self.last_seen_at, tz),
            "condition_cleared": self.condition_cleared,
            "cleared_at": iso(self.cleared_at, tz),
            "auto_resolve": self.auto_resolve,
            "respond_due_at": iso(self.respond_due_at, tz),
            "resolve_due_at": iso(self.resolve_due_at, tz),
            "revisit_due_at": iso(self.revisit_due_at, tz),
            "overdue": self.overdue,
            "escalation_level": self.escalation_level,
            "revisit_overdue": self.revisit_overdue,
            "revisit_result": self.revisit_result,
            "acknowledged_at": iso(self.acknowledged_at, tz),
            "resolved_at": iso(self.resolved_at, tz),
            "closed_at": iso(self.closed_at, tz),
            "cancelled_at": iso(self.cancelled_at, tz),
            "suppressed": self.suppressed,
            "site": self.site,
            "revision": self.revision,
        }


def localize(t: Ticket, tz: tzinfo) -> Ticket:
    """A copy with every time in `tz` (the store answers in UTC; people read site time)."""
    new = copy.copy(t)
    for name in _TIME_FIELDS:
        value = getattr(t, name)
        if value is not None:
            setattr(new, name, value.astimezone(tz))
    new.history = [replace(h, at=h.at.astimezone(tz)) for h in t.history]
    new.labels = dict(t.labels)
    return new


_TIME_FIELDS = [f.name for f in fields(Ticket) if f.type in ("datetime", "datetime | None")]
