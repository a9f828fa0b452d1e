"""A planned ticket's checklist, pure: an item's result recorded, and a tap at the asset's checkpoint
noted as proof of presence. Each returns a new ticket with the change in its history (or None when
there is nothing new); the maintenance service stores it.

An item is `{"item": text, "result": None | "ok" | "fault", "note", "by", "at", "repair"}`.
"""

from __future__ import annotations

import copy
from datetime import datetime, tzinfo
from typing import Any, Literal

from gateway.core.errors import SitegateError
from gateway.tickets.lifecycle import ACTIVE
from gateway.tickets.ticket import HistoryEntry, Ticket

Result = Literal["ok", "fault"]
PRESENCE = "inspected_at_checkpoint"


class NotInspectable(SitegateError):
    """The ticket is not an open planned ticket (the API answers 409)."""


class NoSuchItem(SitegateError):
    """The checklist has no item at that index (the API answers 404)."""


def new_items(texts: list[str]) -> list[dict[str, Any]]:
    return [{"item": text, "result": None, "note": "", "by": None, "at": None, "repair": None} for text in texts]


def complete(t: Ticket) -> bool:
    return bool(t.checklist) and all(item.get("result") in ("ok", "fault") for item in t.checklist)


def edited(t: Ticket) -> Ticket:
    new = copy.copy(t)
    new.history = list(t.history)
    new.checklist = copy.deepcopy(t.checklist)
    new.labels = dict(t.labels)
    return new


def check_recordable(t: Ticket, index: int) -> None:
    if t.source != "planned" or t.status not in ACTIVE:
        raise NotInspectable(f"Ticket {t.id} is {'not planned work' if t.source != 'planned' else t.status}; "
                             "results are recorded on open planned tickets only.")
    if not 0 <= index < len(t.checklist):
        raise NoSuchItem(f"Ticket {t.id} has {len(t.checklist)} checklist item(s), numbered from 0; "
                         f"there is no item {index}.")


def record_item(t: Ticket, index: int, result: Result, *, note: str, actor: str, now: datetime,
                tz: tzinfo, repair: str | None = None) -> Ticket:
    """The item's result (recording it again corrects it); `repair` is the repair ticket a fault opened."""
    check_recordable(t, index)
    new = edited(t)
    item = new.checklist[index]
    item.update(result=result, note=note, by=actor, at=now.astimezone(tz).isoformat(), repair=repair)
    text = f"item {index} ({item.get('item', '')}): {result}"
    if note:
        text += f"; {note}"
    if repair:
        text += f"; repair ticket {repair} opened"
    new.history.append(HistoryEntry(at=now, actor=actor, action="inspection_item", note=text,
                                    from_status=t.status, to_status=t.status))
    return new


def record_presence(t: Ticket, *, checkpoint: str, who: str, at: datetime, tz: tzinfo) -> Ticket | None:
    """A tap at the asset's checkpoint while the ticket is open; None when this tap is already noted
    (the journal replays taps after a restart) or the ticket is no longer open."""
    if t.status not in ACTIVE:
        return None
    note = f"inspected at checkpoint {checkpoint} at {at.astimezone(tz):%Y-%m-%d %H:%M:%S}"
    if any(h.action == PRESENCE and h.note == note for h in t.history):
        return None
    new = edited(t)
    new.history.append(HistoryEntry(at=at, actor=who, action=PRESENCE, note=note,
                                    from_status=t.status, to_status=t.status))
    return new


def summary(t: Ticket) -> str:
    """What the resolve records as work done: the count of ok and faulty items."""
    ok = sum(1 for item in t.checklist if item.get("result") == "ok")
    faults = [f"{i} {item.get('item', '')}" + (f" -> {item['repair']}" if item.get("repair") else "")
              for i, item in enumerate(t.checklist) if item.get("result") == "fault"]
    text = f"inspection done: {ok} ok, {len(faults)} fault(s)"
    return text + (f" ({'; '.join(faults)})" if faults else "")
