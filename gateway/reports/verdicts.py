"""How one deadline is judged for a report, pure. Stage logic itself is gateway/tickets/stages.py.

A deadline is judged once its outcome is known:
- on_time: the stage was done at or before its deadline;
- late: done after it, or not done and the deadline has passed (a ticket never acknowledged, or
  still open, is late: it is not skipped);
- pending: not done and the deadline is still ahead at report time: not counted yet. A stage
  already done before a future deadline is on time (its outcome can no longer change).
- not counted (None): the stage has no deadline, or the ticket ended without it before its deadline
  (a condition that cleared by itself before anyone had to come).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from gateway.tickets import sla, stages
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.stages import Stage
from gateway.tickets.ticket import Ticket

Verdict = Literal["on_time", "late", "pending"]


def judge(deadline: datetime, done: datetime | None, now: datetime) -> Verdict:
    if done is not None:
        return "on_time" if done <= deadline else "late"
    return "late" if now >= deadline else "pending"


def stage_verdict(t: Ticket, stage: Stage, now: datetime) -> Verdict | None:
    deadline = stages.due(t, stage)
    if deadline is None:
        return None
    done = stages.done_at(t, stage)
    if done is not None or stages.pending(t, stage):
        return judge(deadline, done, now)
    # Ended without this stage: the condition cleared by itself (nobody responded or came).
    ended = t.resolved_at or t.closed_at
    return "late" if ended is not None and ended > deadline else None


@dataclass(slots=True)
class Tally:
    on_time: int = 0
    late: int = 0
    pending: int = 0

    def add(self, verdict: Verdict | None) -> None:
        if verdict == "on_time":
            self.on_time += 1
        elif verdict == "late":
            self.late += 1
        elif verdict == "pending":
            self.pending += 1

    @property
    def rate(self) -> float | None:
        """on time / judged; None when nothing was judged."""
        judged = self.on_time + self.late
        return self.on_time / judged if judged else None

    def to_json(self, target: float) -> dict[str, Any]:
        rate = self.rate
        return {"on_time": self.on_time, "late": self.late, "pending": self.pending, "rate": rate,
                "target": target, "met": None if rate is None else rate >= target}


@dataclass(frozen=True, slots=True)
class RevisitCase:
    """One repair by a person that the site revisits: its revisit deadline and what happened."""

    repaired_at: datetime
    due: datetime
    done: datetime | None  # the revisit (ok or failed)
    ended: datetime | None  # reopened or cancelled before any revisit

    def verdict(self, now: datetime) -> Verdict | None:
        if self.done is None and self.ended is not None and self.ended < self.due:
            return None  # the repair was undone before its revisit was due
        return judge(self.due, self.done, now)


def revisit_cases(t: Ticket, policy: TicketPolicy, tz: tzinfo) -> list[RevisitCase]:
    """Every repair of the ticket that needed a revisit, from its history: a failed revisit starts
    the ticket again and clears its revisit deadline, yet that revisit was made and counts. The
    current repair's deadline is the one recorded on the ticket; an earlier one is computed again by
    the rule the service used (sla.revisit_due)."""
    if t.source not in policy.revisit.sources:
        return []

    def case(repaired: datetime, done: datetime | None, ended: datetime | None) -> RevisitCase:
        recorded = t.revisit_due_at if t.resolved_at == repaired else None
        due = recorded or sla.revisit_due(repaired, working_days=policy.revisit.working_days,
                                          calendar=policy.calendar, tz=tz)
        return RevisitCase(repaired, due, done, ended)

    found: list[RevisitCase] = []
    repaired: datetime | None = None
    for h in t.history:
        if h.action == "resolved":
            if repaired is not None:  # resolved again with no revisit in between (not possible today)
                found.append(case(repaired, None, None))
            repaired = h.at if h.actor != stages.SYSTEM else None
        elif repaired is not None and h.action in ("revisited", "revisit_failed"):
            found.append(case(repaired, h.at, None))
            repaired = None
        elif repaired is not None and h.action in ("reopened", "cancelled"):
            found.append(case(repaired, None, h.at))
            repaired = None
    if repaired is not None:
        found.append(case(repaired, None, None))
    return found
