"""The stages of the service loop, pure: 登记 registered -> 接单 respond (accept) -> 到场 arrive ->
处理 resolve -> 回访 revisit. Each stage has its own deadline and its own moment of being done, so a
late arrival is on record even when the repair is then on time.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from gateway.tickets.ticket import Ticket

Stage = Literal["respond", "arrive", "resolve", "revisit"]
STAGES: Final[tuple[Stage, ...]] = ("respond", "arrive", "resolve", "revisit")
SYSTEM: Final = "system"


def due(t: Ticket, stage: Stage) -> datetime | None:
    return {"respond": t.respond_due_at, "arrive": t.arrive_due_at, "resolve": t.resolve_due_at,
            "revisit": t.revisit_due_at}[stage]


def _by_person(t: Ticket) -> bool:
    return t.resolved_at is not None and t.resolved_by not in (None, SYSTEM)


def done_at(t: Ticket, stage: Stage) -> datetime | None:
    """When the stage was done. A person who resolves a ticket responded and was on site by then at
    the latest; a condition that cleared by itself did neither."""
    if stage == "respond":
        return t.acknowledged_at or t.arrived_at or (t.resolved_at if _by_person(t) else None)
    if stage == "arrive":
        return t.arrived_at or (t.resolved_at if _by_person(t) else None)
    if stage == "resolve":
        return t.resolved_at
    # A failed revisit keeps its record when the ticket starts again (changes._restart); it is not
    # the revisit of the repair made after it.
    if t.revisited_at is None or t.resolved_at is None or t.revisited_at < t.resolved_at:
        return None
    return t.revisited_at


def pending(t: Ticket, stage: Stage) -> bool:
    """The stage has a deadline and is not done yet (and the ticket is still alive)."""
    if t.status in ("closed", "cancelled") or due(t, stage) is None or done_at(t, stage) is not None:
        return False
    if stage == "revisit":
        return t.status == "resolved"
    # Resolved without this stage (the condition cleared by itself): nothing is left to do.
    return t.status != "resolved"


def late_now(t: Ticket, stage: Stage, now: datetime) -> bool:
    """Whether the stage is late at `now`: done after its deadline, or not done and the deadline passed."""
    deadline = due(t, stage)
    if deadline is None:
        return False
    finished = done_at(t, stage)
    if finished is not None:
        return finished > deadline
    return pending(t, stage) and now >= deadline


def next_due(t: Ticket) -> datetime | None:
    """The earliest deadline of a stage still to be done: what the ticket works towards now."""
    found = [d for stage in STAGES if pending(t, stage) and (d := due(t, stage)) is not None]
    return min(found) if found else None
