"""The ticket as a value: what the API answers, what is published on MQTT and sent to webhooks."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, tzinfo
from typing import Any

from gateway.core.model import Value
from gateway.tickets import stages


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
    due_at: datetime | None = None  # the earliest deadline of a stage still to be done
    overdue: bool = False  # a stage still to be done is past its deadline
    check_at: datetime | None = None  # the next stage deadline not yet recorded as passed
    escalation_level: int = 0
    next_escalation_at: datetime | None = None
    revisit_overdue: bool = False
    revisit_result: str | None = None  # "ok" | "failed", recorded when the ticket is closed
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    suppressed: int = 0  # symptom events this ticket muted (inhibition)
    # -- the service loop: who asked, and each stage (registered, accepted, on site, handled, revisited)
    source: str = "sensor"  # sensor | patrol | complaint | repair | planned
    channel: str = "sensor"  # phone | desk | online | patrol | sensor | schedule
    place: str = ""
    reporter_name: str = ""
    reporter_contact: str = ""
    photos: list[str] = field(default_factory=list)
    emergency: bool = False
    team: str | None = None  # the owning team (zone team or the asset's owner); assignee may be a person
    arrive_due_at: datetime | None = None
    arrived_at: datetime | None = None
    resolved_by: str | None = None
    work_done: str = ""
    parts: list[str] = field(default_factory=list)
    revisited_at: datetime | None = None
    revisited_by: str | None = None
    satisfaction: int | None = None  # 1..5, from the revisit
    feedback_at: datetime | None = None  # when the reporter was last told the outcome
    reopen_count: int = 0  # reopened or failed a revisit: rework
    late_stages: list[str] = field(default_factory=list)  # stages whose deadline passed before they were done
    checklist: list[dict[str, Any]] = field(default_factory=list)  # planned work: items and results
    emergency_level: int | None = None  # 1 (一级, most serious) .. 3 (三级), by incident class
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
            "source": self.source,
            "channel": self.channel,
            "place": self.place,
            "reporter": ({"name": self.reporter_name, "contact": self.reporter_contact}
                         if self.reporter_name or self.reporter_contact else None),
            "photos": list(self.photos),
            "emergency": self.emergency,
            "emergency_level": self.emergency_level,
            "team": self.team,
            "deadlines": {stage: iso(stages.due(self, stage), tz) for stage in stages.STAGES},
            "stages": {stage: {"due": iso(stages.due(self, stage), tz), "done_at": iso(stages.done_at(self, stage), tz),
                               "late": stage in self.late_stages} for stage in stages.STAGES},
            "late_stages": list(self.late_stages),
            "arrive_due_at": iso(self.arrive_due_at, tz),
            "arrived_at": iso(self.arrived_at, tz),
            "resolved_by": self.resolved_by,
            "work_done": self.work_done,
            "parts": list(self.parts),
            "revisited_at": iso(self.revisited_at, tz),
            "revisited_by": self.revisited_by,
            "satisfaction": self.satisfaction,
            "feedback_at": iso(self.feedback_at, tz),
            "reopen_count": self.reopen_count,
            "checklist": copy.deepcopy(self.checklist),
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
    new.photos, new.parts, new.late_stages = list(t.photos), list(t.parts), list(t.late_stages)
    new.checklist = copy.deepcopy(t.checklist)
    return new


_TIME_FIELDS = [f.name for f in fields(Ticket) if f.type in ("datetime", "datetime | None")]
