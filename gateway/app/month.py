"""A month of the demo site, as one run: every night's traffic through the real offline gateway,
the people at work between and during the nights, and the month's report from what they left.

Each night (by default 15:00 to 10:30 the next morning, site time, like the oracle's) is seeded
simulator traffic fed to a fresh `OfflineGateway` (no memory of the devices, as the oracle's nights
are), all nights sharing ONE ticket store and ONE patrol round archive (`records`), so tickets and
rounds accumulate as in a real month. The people (gateway/app/simulator/staff.py) act through the
ticket and maintenance services at their own times, interleaved with the traffic in time order:
before each batch of messages, every step due by then is carried out; between nights (when the
gateway stands still) they keep working. They notice new tickets by looking at the open ones every
`LOOK` of site time, as a person watching the dashboard would.

The report is `ReportSource.monthly`, the code behind `GET /api/reports/monthly`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

from gateway.app.offline import OfflineGateway
from gateway.app.oracle import night_batches
from gateway.app.simulator.engine import Simulator
from gateway.app.simulator.patrol import PlannedTap
from gateway.app.simulator.site_model import load_sim_site
from gateway.app.simulator.staff import (
    DeskRequest,
    Habits,
    Roster,
    StaffRecord,
    Step,
    desk_requests,
    inspection_steps,
    next_step,
)
from gateway.core.errors import SitegateError
from gateway.core.site import Site
from gateway.maintenance.checklist import Result
from gateway.maintenance.service import MaintenanceService
from gateway.reports.month import Month
from gateway.tickets.service import TicketConflict, TicketService
from gateway.tickets.ticket import Ticket

log = logging.getLogger(__name__)
LOOK = timedelta(minutes=5)  # how often the people look at the open tickets


@dataclass(frozen=True, slots=True)
class NightWindow:
    """When a night's traffic runs, site time: from `start` for `hours`."""

    start: time = time(15, 0)
    hours: float = 19.5

    def of(self, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
        begin = datetime.combine(day, self.start, tz)
        return begin, begin + timedelta(hours=self.hours)


class Office:
    """The people at work: carries out staff.py's steps through the services, in time order, and
    keeps their record. The services are those of the gateway standing at the time (`bind`)."""

    def __init__(self, *, seed: int, tz: tzinfo, habits: Habits, roster: Roster) -> None:
        self.seed, self.tz, self.habits, self.roster = seed, tz, habits, roster
        self.record = StaffRecord()
        self._queue: list[tuple[datetime, int, Step | DeskRequest]] = []
        self._order = itertools.count()  # ties keep the order they were planned in
        self._known: set[str] = set()
        self._look: datetime | None = None
        self._tickets: TicketService | None = None
        self._maintenance: MaintenanceService | None = None
        self._morning: datetime | None = None

    def bind(self, tickets: TicketService, maintenance: MaintenanceService | None, morning: datetime) -> None:
        self._tickets, self._maintenance, self._morning = tickets, maintenance, morning

    def desk(self, days: Sequence[date]) -> None:
        for day in days:
            for request in desk_requests(day, seed=self.seed, tz=self.tz, habits=self.habits, roster=self.roster):
                self._push(request.at, request)

    def _push(self, at: datetime, what: Step | DeskRequest) -> None:
        heapq.heappush(self._queue, (at, next(self._order), what))

    def run_until(self, until: datetime) -> None:
        """Everything the people do up to `until`, in time order, looking at the open tickets every LOOK."""
        if self._look is None:
            self._look = until
        while True:
            step_at = self._queue[0][0] if self._queue else None
            if self._look <= until and (step_at is None or self._look <= step_at):
                self._notice(self._look)
                self._look += LOOK
                continue
            if step_at is None or step_at > until:
                return
            _at, _, what = heapq.heappop(self._queue)
            if isinstance(what, DeskRequest):
                self._register(what)
            else:
                self._carry_out(what)

    # -- what they do ------------------------------------------------------------------------------

    @property
    def tickets(self) -> TicketService:
        if self._tickets is None:
            raise RuntimeError("Office.bind() the services before running it")
        return self._tickets

    def _register(self, desk: DeskRequest) -> None:
        ticket = self.tickets.create(desk.request, actor=desk.actor, now=desk.at)
        self.record.registered[desk.request.source] += 1
        self.record.emergencies += desk.request.emergency
        self._known.add(ticket.id)
        self._plan(ticket, desk.at)

    def _notice(self, now: datetime) -> None:
        for ticket in sorted(self.tickets.list(status="open", limit=1_000_000), key=lambda t: t.seq):
            if ticket.id not in self._known:
                self._known.add(ticket.id)
                self._plan(ticket, max(now, ticket.opened_at))

    def _plan(self, ticket: Ticket, now: datetime) -> None:
        if ticket.source == "planned":
            steps = inspection_steps(ticket, now, seed=self.seed, tz=self.tz, habits=self.habits, roster=self.roster)
        else:
            found = next_step(ticket, now, seed=self.seed, tz=self.tz, habits=self.habits, roster=self.roster,
                              morning=self._morning)
            steps = [found] if found is not None else []
        for step in steps:
            self._push(step.at, step)

    def _carry_out(self, step: Step) -> None:
        try:
            ticket = self._apply(step)
        except TicketConflict:
            if step.action != "revisit" or step.details is None or step.details.result != "failed":
                raise
            # The resident says it is not fixed, but the gateway has seen the fault again and a newer
            # ticket holds it (this one cannot reopen): that ticket is the rework. Customer service
            # records this revisit as made, with the resident's low score, and says why.
            step = replace(step, details=replace(step.details, result="ok"),
                           note="回访: not fixed, the fault is back on a newer ticket")
            ticket = self._apply(step)
        except SitegateError as exc:
            # The ticket moved on without them (its condition cleared and the system resolved it).
            self.record.skipped[step.action] += 1
            log.debug("%s on %s skipped: %s", step.action, step.ticket_id, exc)
            return
        self.record.note(step)
        if ticket.source != "planned":
            self._plan(ticket, step.at)

    def _apply(self, step: Step) -> Ticket:
        if step.action == "inspect":
            if self._maintenance is None:
                raise RuntimeError("planned work without the maintenance feature")
            result: Result = "fault" if step.result == "fault" else "ok"
            return self._maintenance.record(step.ticket_id, step.item, result, note=step.note,
                                            actor=step.actor, now=step.at)
        return self.tickets.act(step.ticket_id, step.action, actor=step.actor, note=step.note, now=step.at,
                                details=step.details)


NIGHTS, HABITS, ROSTER = NightWindow(), Habits(), Roster()


@dataclass
class MonthRun:
    month: Month
    report: dict[str, Any]
    record: StaffRecord
    nights: int = 0
    messages: int = 0
    report_at: datetime | None = None
    night_seconds: list[float] = field(default_factory=list)  # wall clock, per night and the day after it
    night_cpu: list[float] = field(default_factory=list)  # CPU time of this process, the same spans


def days_of(month: Month, tz: tzinfo) -> list[date]:
    first = month.start(tz).date()
    last = month.end(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days)]


def _nights(site: Site, days: Sequence[date], seed: int,
            window: NightWindow) -> Iterator[tuple[int, date, datetime, datetime, Simulator]]:
    sim_site = load_sim_site(site)
    for i, day in enumerate(days):
        start, end = window.of(day, sim_site.tz)
        yield i, day, start, end, Simulator(sim_site, seed=seed + i)


def run_month(site: Site, month: Month, records: Path, *, seed: int = 1, days: Sequence[date] | None = None,
              window: NightWindow = NIGHTS, habits: Habits = HABITS, roster: Roster = ROSTER,
              report_at: datetime | None = None) -> MonthRun:
    """Night i of `days` (default: every day of the month) has simulator seed `seed + i`; the front
    desk registers requests on those days, and every draw of the people comes from `seed` too. The
    report is made at `report_at` (default: the end of the last night), the people finishing what
    they can until then. `records`: the folder of the ticket store and round archive (empty, or a
    previous run's to add to)."""
    tz = site.tz
    days = list(days) if days is not None else days_of(month, tz)
    if not days:
        raise ValueError("run_month needs at least one night")
    last_end = window.of(days[-1], tz)[1]
    report_at = report_at or last_end
    if report_at < last_end:
        raise ValueError(f"report time {report_at} is before the last night ends ({last_end})")
    office = Office(seed=seed, tz=tz, habits=habits, roster=roster)
    office.desk(days)  # the desk registers requests on the days of the nights run
    run = MonthRun(month, {}, office.record)
    for i, _day, start, end, sim in _nights(site, days, seed, window):
        began, began_cpu = perf_counter(), process_time()
        with OfflineGateway(site, start, records=records) as offline:
            office.bind(offline.tickets, offline.maintenance, morning=end)
            taps: list[PlannedTap] = []
            for at, batch in night_batches(sim, start, end, taps):
                office.run_until(at)
                offline.feed_batch(at, batch)
            office.run_until(end)
            offline.advance(end)
            # The day: the gateway stands still (no traffic), the people keep working.
            last = i == len(days) - 1
            office.run_until(report_at if last else window.of(days[i + 1], tz)[0])
            run.messages += offline.messages
            if last:
                if offline.reports is None:
                    raise RuntimeError("the site has no tickets feature: nothing to report")
                run.report = offline.reports.monthly(month, report_at)
        run.nights += 1
        run.night_seconds.append(perf_counter() - began)
        run.night_cpu.append(process_time() - began_cpu)
        log.info("night %s (%d/%d): %.1f s, %.1f s CPU, %d messages", start.date(), i + 1, len(days),
                 run.night_seconds[-1], run.night_cpu[-1], offline.messages)
    run.report_at = report_at
    return run


def _pct(rate: float | None) -> str:
    return "  n/a " if rate is None else f"{rate * 100:5.1f}%"


def _tally(t: dict[str, Any]) -> str:
    met = "" if t["met"] is None else ("  met" if t["met"] else "  NOT met")
    return f"{_pct(t['rate'])} (on time {t['on_time']}, late {t['late']}, pending {t['pending']}){met}"


def summary(run: MonthRun, site_name: str = "") -> str:
    """The month in a few lines, for a closing note."""
    r, rec = run.report, run.record
    reg = r["registered"]
    sat, rw, patrol = r["satisfaction_detail"], r["rework"], r["patrol"]
    at = f"{run.report_at:%Y-%m-%d %H:%M}" if run.report_at else r["generated_at"]
    failed = sum(result == "failed" for done in rec.revisits.values() for result, _, _ in done)
    lines = [
        f"{site_name or r['site']} {r['month']}: {run.nights} nights of simulated traffic "
        f"({run.messages:,} messages) through the offline gateway; report at {at}",
        f"tickets registered: {reg['total']} ("
        + ", ".join(f"{k} {n}" for k, n in reg["by_source"].items()) + f"); cancelled {reg['cancelled']}",
        f"timeliness per stage (target {r['stages']['respond']['target']:.0%}):",
        *(f"  {stage:8} {_tally(t)}" for stage, t in r["stages"].items()),
        f"revisit rate (revisited by the deadline): {_tally(r['revisits'])}",
        f"satisfaction (4-5 of 5): {_pct(sat['rate'])} ({sat['satisfied']} of {sat['scored']} scored, mean "
        + (f"{sat['mean']:.2f}" if sat["mean"] is not None else "n/a") + f", target {sat['target']:.0%})",
        f"rework (返修率): {_pct(rw['rate'])} ({rw['reworked']} of {rw['repaired']} repaired: "
        f"{len(rw['reopened'])} reopened, {len(rw['repeated'])} same fault again within 30 days)",
        f"planned work on time: {_tally(r['planned'])}",
        f"patrol coverage: {_pct(patrol['coverage'])} ({patrol['visited']} of {patrol['expected']} checkpoint "
        f"visits, {patrol['rounds']} rounds, {patrol['completed']} completed)",
        f"the people: desk registered {rec.registered['complaint']} complaints and {rec.registered['repair']} "
        f"repair requests ({rec.emergencies} emergency leaks); {rec.done['accept']} tickets accepted (by "
        f"engineers, and by inspectors their planned work); engineers arrived {rec.done['arrive']}, resolved "
        f"{rec.done['resolve']}; customer service revisited {rec.done['revisit']} "
        f"({failed} failed); inspectors finished {len(rec.inspected)} planned tickets "
        f"({sum(rec.inspected.values())} late, "
        f"{len(rec.faults_found)} item(s) found faulty); {sum(rec.skipped.values())} steps found the ticket "
        "already resolved by its condition clearing",
    ]
    return "\n".join(lines)
