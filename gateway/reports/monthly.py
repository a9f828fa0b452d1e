"""The monthly report, pure: tickets, archived rounds, the month and the report time in, figures out.

Definitions (a manager signs these, so each is plain; "the month" is [1st 00:00, next 1st 00:00) in
site time, and cancelled tickets count nowhere but in `registered.cancelled`):

- tickets: tickets registered (opened) in the month, not cancelled; `registered` breaks them down by
  source, category, zone and severity.
- stages.<stage> / timeliness.<stage>: every ticket whose deadline for that stage fell in the month,
  judged as in verdicts.py (late includes never done; pending = deadline still ahead, not counted);
  rate = on_time / (on_time + late), target 0.95. A reopened ticket is judged on its current cycle.
- revisits / revisit_rate: every repair by a person, of a source the site revisits, whose revisit
  deadline fell in the month (a failed revisit's repair included, from the history): share revisited
  (ok or failed) by the deadline. A repair reopened by hand before its revisit was due is not counted.
- satisfaction: tickets revisited in the month with a score: share scored 4 or 5 (target 0.90), and
  the mean score. A ticket revisited twice counts its latest revisit.
- rework / rework_rate (返修率): tickets repaired by a person in the month (a "resolved" by someone
  other than the system; a condition that cleared by itself was no repair) that were reopened or
  failed a revisit (reopen_count > 0), or whose same fault (same device and `fault` label, else same
  dedup key) got a new, not cancelled ticket within 30 days after the month's last repair of it;
  divided by the tickets repaired in the month.
- planned: tickets of source "planned" whose resolve deadline fell in the month: done on time share.
- patrol / patrol_coverage: see coverage.py.
- zones: per zone with tickets registered or due in the month, all stage deadlines of the month
  together, and `open_overdue`: its tickets still open or acknowledged at report time with a stage
  past its deadline. Ranked by timeliness (best first; none judged last), then fewer open overdue.
- complaints: every complaint registered in the month (cancelled too), with the stages judged late.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from gateway.patrol.archive import ArchivedRound
from gateway.reports.coverage import patrol_figures
from gateway.reports.month import Month
from gateway.reports.verdicts import Tally, revisit_cases, stage_verdict
from gateway.tickets import stages
from gateway.tickets.lifecycle import ACTIVE
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.ticket import Ticket

TIMELINESS_TARGET = 0.95
SATISFACTION_TARGET = 0.90
SATISFIED = 4  # a score of 4 or 5 out of 5
REPEAT_WINDOW = timedelta(days=30)
# What a report must read beyond the month: repeats up to 30 days after it; tickets opened this long
# before it whose deadlines (a revisit, a slow planned job) fall in it. Older closed tickets are not
# read (a deadline more than 92 days after opening needs a reopen; still-live ones are always read).
LOOKBACK = timedelta(days=92)
READ_AHEAD = REPEAT_WINDOW


class Period:
    """The month as instants, and the report time."""

    def __init__(self, month: Month, tz: tzinfo, now: datetime) -> None:
        self.month, self.tz, self.now = month, tz, now
        self.start, self.end = month.start(tz), month.end(tz)

    def __contains__(self, when: datetime | None) -> bool:
        return when is not None and self.start <= when < self.end


def monthly_report(tickets: Iterable[Ticket], rounds: Iterable[ArchivedRound], *, month: Month, tz: tzinfo,
                   now: datetime, policy: TicketPolicy, site: str = "") -> dict[str, Any]:
    p = Period(month, tz, now)
    every = list(tickets)
    alive = [t for t in every if t.status != "cancelled"]
    stage_tallies = _stages(alive, p)
    revisits = _revisits(alive, p, policy)
    satisfaction = _satisfaction(alive, p)
    rework = _rework(alive, p)
    planned = Tally()
    for t in alive:
        if t.source == "planned" and stages.due(t, "resolve") in p:
            planned.add(stage_verdict(t, "resolve", now))
    patrol = patrol_figures(rounds)
    registered = _registered(every, p)
    return {
        "month": str(month),
        "site": site,
        "generated_at": now.astimezone(tz).isoformat(),
        "tickets": registered["total"],
        "timeliness": {stage: tally.rate for stage, tally in stage_tallies.items()},
        "revisit_rate": revisits.rate,
        "satisfaction": satisfaction["rate"],
        "rework_rate": rework["rate"],
        "patrol_coverage": patrol["coverage"],
        "registered": registered,
        "stages": {stage: tally.to_json(TIMELINESS_TARGET) for stage, tally in stage_tallies.items()},
        "revisits": revisits.to_json(TIMELINESS_TARGET),
        "satisfaction_detail": satisfaction,
        "rework": rework,
        "planned": planned.to_json(TIMELINESS_TARGET),
        "patrol": patrol,
        "zones": _zones(alive, p),
        "complaints": _complaints(every, p),
    }


def _registered(tickets: Sequence[Ticket], p: Period) -> dict[str, Any]:
    mine = [t for t in tickets if t.opened_at in p]
    counted = [t for t in mine if t.status != "cancelled"]

    def by(attr: str) -> dict[str, int]:
        return dict(sorted(Counter(str(getattr(t, attr)) for t in counted).items()))

    return {"total": len(counted), "cancelled": len(mine) - len(counted), "by_source": by("source"),
            "by_category": by("category"), "by_zone": by("zone"), "by_severity": by("severity")}


def _stages(alive: Sequence[Ticket], p: Period) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {stage: Tally() for stage in stages.STAGES}
    for t in alive:
        for stage in stages.STAGES:
            if stages.due(t, stage) in p:
                tallies[stage].add(stage_verdict(t, stage, p.now))
    return tallies


def _revisits(alive: Sequence[Ticket], p: Period, policy: TicketPolicy) -> Tally:
    tally = Tally()
    for t in alive:
        for case in revisit_cases(t, policy, p.tz):
            if case.due in p:
                tally.add(case.verdict(p.now))
    return tally


def _satisfaction(alive: Sequence[Ticket], p: Period) -> dict[str, Any]:
    scores = [t.satisfaction for t in alive if t.revisited_at in p and t.satisfaction is not None]
    satisfied = sum(1 for s in scores if s >= SATISFIED)
    rate = satisfied / len(scores) if scores else None
    return {"scored": len(scores), "satisfied": satisfied, "rate": rate,
            "mean": sum(scores) / len(scores) if scores else None, "target": SATISFACTION_TARGET,
            "met": None if rate is None else rate >= SATISFACTION_TARGET}


def fault_key(t: Ticket) -> str:
    """The same fault: the same device and `fault` label, else the same dedup key."""
    fault = t.labels.get("fault")
    return f"{t.device_id}|{fault}" if t.device_id and fault else t.dedup_key


def _rework(alive: Sequence[Ticket], p: Period) -> dict[str, Any]:
    opened_by_fault: dict[str, list[Ticket]] = {}
    for t in alive:
        opened_by_fault.setdefault(fault_key(t), []).append(t)
    repaired, reopened, repeated = [], [], []
    for t in alive:
        repairs = [h.at for h in t.history if h.action == "resolved" and h.actor != stages.SYSTEM and h.at in p]
        if not repairs:
            continue
        repaired.append(t.id)
        last = max(repairs)
        if t.reopen_count > 0:
            reopened.append(t.id)
        if any(u.seq != t.seq and last < u.opened_at <= last + REPEAT_WINDOW for u in opened_by_fault[fault_key(t)]):
            repeated.append(t.id)
    reworked = sorted(set(reopened) | set(repeated))
    return {"repaired": len(repaired), "reworked": len(reworked), "reopened": sorted(reopened),
            "repeated": sorted(repeated), "tickets": reworked,
            "rate": len(reworked) / len(repaired) if repaired else None}


def _zones(alive: Sequence[Ticket], p: Period) -> list[dict[str, Any]]:
    tallies: dict[str, Tally] = {}
    overdue: Counter[str] = Counter()
    for t in alive:
        due_here = [s for s in stages.STAGES if stages.due(t, s) in p]
        if t.opened_at in p or due_here:
            tally = tallies.setdefault(t.zone, Tally())
            for stage in due_here:
                tally.add(stage_verdict(t, stage, p.now))
        if t.status in ACTIVE and t.opened_at < p.end and any(stages.pending(t, s) and stages.late_now(t, s, p.now)
                                                              for s in stages.STAGES):
            overdue[t.zone] += 1
    rows = [{"zone": zone, **tally.to_json(TIMELINESS_TARGET), "open_overdue": overdue[zone]}
            for zone, tally in tallies.items()]
    rows.sort(key=lambda r: (r["rate"] is None, -(r["rate"] or 0.0), r["open_overdue"], r["zone"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def _complaints(tickets: Sequence[Ticket], p: Period) -> list[dict[str, Any]]:
    rows = []
    for t in sorted((t for t in tickets if t.source == "complaint" and t.opened_at in p), key=lambda t: t.seq):
        late = [s for s in stages.STAGES if t.status != "cancelled" and stage_verdict(t, s, p.now) == "late"]
        rows.append({"id": t.id, "day": t.opened_at.astimezone(p.tz).date().isoformat(),
                     "reporter": t.reporter_name, "zone": t.zone, "category": t.category, "title": t.title,
                     "status": t.status, "late_stages": late})
    return rows
