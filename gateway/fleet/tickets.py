"""A site's ticket as it travels in events (the site API's JSON shape) read back into the site's own
`Ticket`, so head office judges deadlines with the very rules the site uses (gateway/tickets/stages.py,
gateway/reports/). Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.core.clock import aware_or_none
from gateway.tickets import stages
from gateway.tickets.lifecycle import ACTIVE
from gateway.tickets.ticket import HistoryEntry, Ticket, ticket_seq

_DEADLINES = {"respond": "respond_due_at", "arrive": "arrive_due_at", "resolve": "resolve_due_at",
              "revisit": "revisit_due_at"}
_TIMES = ("acknowledged_at", "arrived_at", "resolved_at", "closed_at", "cancelled_at", "revisited_at",
          "last_seen_at", "cleared_at", "feedback_at", "due_at")


_when = aware_or_none  # ISO with an offset, else None


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def ticket_from_json(site: str, doc: dict[str, Any]) -> Ticket:
    """The site's Ticket from its JSON (unknown or missing fields take the Ticket's defaults)."""
    opened = _when(doc.get("opened_at"))
    if opened is None:
        raise ValueError(f"ticket {doc.get('id')!r} has no opened_at time with an offset")
    tid = _str(doc.get("id"))
    t = Ticket(site=site, rule=_str(doc.get("rule")), device_id=_str(doc.get("device_id")),
               zone=_str(doc.get("zone")), severity=_str(doc.get("severity"), "minor"),
               status=_str(doc.get("status"), "open"), title=_str(doc.get("title")), opened_at=opened,
               dedup_key=_str(doc.get("dedup_key"), f"{site}/{tid}"), seq=ticket_seq(tid) or 0)
    t.category = _str(doc.get("category"), "general")
    t.source = _str(doc.get("source"), "sensor")
    labels = doc.get("labels")
    t.labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    t.assignee = doc.get("assignee") if isinstance(doc.get("assignee"), str) else None
    t.resolved_by = doc.get("resolved_by") if isinstance(doc.get("resolved_by"), str) else None
    occurrences, satisfaction, reopens = doc.get("occurrences"), doc.get("satisfaction"), doc.get("reopen_count")
    t.occurrences = occurrences if isinstance(occurrences, int) else 1
    t.satisfaction = satisfaction if isinstance(satisfaction, int) else None
    t.reopen_count = reopens if isinstance(reopens, int) else 0
    reporter = doc.get("reporter")
    t.reporter_name = _str(reporter.get("name")) if isinstance(reporter, dict) else ""
    deadlines: dict[str, Any] = doc["deadlines"] if isinstance(doc.get("deadlines"), dict) else {}
    for stage, attr in _DEADLINES.items():
        setattr(t, attr, _when(deadlines.get(stage)) or _when(doc.get(attr)))
    for attr in _TIMES:
        setattr(t, attr, _when(doc.get(attr)))
    done: dict[str, Any] = doc["stages"] if isinstance(doc.get("stages"), dict) else {}
    # The site's API shape gives each stage's moment of being done; the Ticket derives it from these.
    if t.acknowledged_at is None and isinstance(done.get("respond"), dict):
        t.acknowledged_at = _when(done["respond"].get("done_at"))
    if t.arrived_at is None and isinstance(done.get("arrive"), dict):
        t.arrived_at = _when(done["arrive"].get("done_at"))
    late = doc.get("late_stages")
    t.late_stages = [s for s in late if isinstance(s, str)] if isinstance(late, list) else []
    t.history = [h for h in (_history(item) for item in doc.get("history") or []) if h is not None]
    revision = doc.get("revision")
    t.revision = revision if isinstance(revision, int) else len(t.history)
    return t


def _history(item: Any) -> HistoryEntry | None:
    if not isinstance(item, dict) or (at := _when(item.get("at"))) is None:
        return None
    return HistoryEntry(at=at, actor=_str(item.get("actor"), stages.SYSTEM), action=_str(item.get("action")),
                        note=_str(item.get("note")), from_status=item.get("from"), to_status=item.get("to"))


def next_due(t: Ticket) -> datetime | None:
    """The earliest deadline of a stage still to be done (None: nothing is pending). Whether a stage is
    pending depends on the ticket alone, not on the time, so it is stored and compared at read time."""
    found = [d for s in stages.STAGES if stages.pending(t, s) and (d := stages.due(t, s)) is not None]
    return min(found) if found else None


def is_active(status: str) -> bool:
    return status in ACTIVE
