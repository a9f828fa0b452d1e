"""The oracle: seeded simulated nights through the real pipeline, conclusions against the truth.

A night (by default 15:00 to 10:30 the next morning, site time) of the demo site's traffic is made
by the simulator with no broker and no real time (simulator/night.py) and fed to the same Gateway
and features as `sitegate run` on a fake clock (offline.py). Then every ticket the gateway opened
is matched with the faults the simulator really injected (simulator/fault_truth.py):

- a fault's ticket is the first ticket one of its rules opened on its device, during the fault; it
  counts (true positive) when it opened by the fault's detection time and did not resolve itself
  before the fault really ended;
- any other ticket of the same fault is a duplicate, and a ticket that matches no fault is a false
  alarm: both cost precision; a fault without a ticket in time costs recall.

`python -m gateway.app.oracle --nights 200` (bench/bench_oracle.py) prints precision and recall
per fault kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from gateway.app.offline import OfflineGateway, OfflineResult
from gateway.app.simulator.engine import Simulator
from gateway.app.simulator.fault_truth import (
    TrueFault,
    device_faults,
    door_openings,
    health_bands,
    missed_rounds,
    reported_faults,
)
from gateway.app.simulator.night import traffic
from gateway.app.simulator.patrol import PlannedTap
from gateway.app.simulator.site_model import SimSite, load_sim_site
from gateway.app.simulator.truth import RoundTruth, round_truths
from gateway.core.model import Inbound
from gateway.core.site import Site

NIGHT_FROM = time(15, 0)
# When device health is compared with the truth: deep in the night, with every fault of the script
# either long established (a dead lamp, a leak, a dead battery) or in full swing (the 01:10-01:50
# outage), none just starting or ending.
HEALTH_PROBES = (time(23, 30), time(1, 45))
NIGHT_HOURS = 19.5
BATCH = timedelta(seconds=10)  # messages of up to this span go through the pipeline as one batch


@dataclass
class Finding:
    """One conclusion judged against the truth."""

    verdict: str  # ok | late | resolved_early | missed | duplicate | false_alarm
    kind: str  # the fault kind (or the ticket's rule for a false alarm)
    detail: str
    rule: str = ""  # the rule of the ticket judged ("" for a fault without one)


@dataclass
class NightVerdict:
    seed: int
    day: date
    faults: int
    tickets: int
    findings: list[Finding] = field(default_factory=list)
    result: OfflineResult | None = None
    health_checked: int = 0
    health_wrong: list[str] = field(default_factory=list)
    rounds_checked: int = 0
    rounds_wrong: list[str] = field(default_factory=list)
    mistakes: Counter[str] = field(default_factory=Counter)  # patrol mistakes walked, by kind


def run_night(site: Site, seed: int, day: date, *, sim_site: SimSite | None = None) -> NightVerdict:
    """One seeded night through the real pipeline, judged."""
    sim_site = sim_site or load_sim_site(site)
    start = datetime.combine(day, NIGHT_FROM, sim_site.tz)
    end = start + timedelta(hours=NIGHT_HOURS)
    sim = Simulator(sim_site, seed=seed)
    taps: list[PlannedTap] = []
    probes = sorted(datetime.combine(day + timedelta(days=1 if p < NIGHT_FROM else 0), p, sim_site.tz)
                    for p in HEALTH_PROBES)
    seen: dict[datetime, list[dict[str, Any]]] = {}
    with OfflineGateway(site, start) as offline:
        for at, batch in night_batches(sim, start, end, taps):
            while probes and probes[0] < at:
                offline.advance(probes[0])
                seen[probes[0]] = offline.gw.registry.views(probes[0])
                probes.pop(0)
            offline.feed_batch(at, batch)
        offline.advance(end)
        result = offline.result()
    rounds = round_truths(sim_site, seed, start, end)
    truth = truth_of(sim, start, end, taps) + missed_rounds(rounds)
    verdict = NightVerdict(seed, day, len(truth), len(result.tickets), judge(truth, result.tickets), result)
    verdict.rounds_checked, verdict.rounds_wrong = len(rounds), compare_rounds(rounds, result.rounds)
    verdict.mistakes = Counter(r.mistake for r in rounds if r.mistake)
    for when, views in seen.items():
        bands = health_bands(sim, when)
        for view in views:
            expected = bands.get(view["id"])
            if expected is None:
                continue
            verdict.health_checked += 1
            if view["health_band"] != expected:
                verdict.health_wrong.append(
                    f"{view['id']} at {when.astimezone(sim_site.tz):%H:%M}: {view['health_band']}, truly {expected} "
                    f"({'; '.join(view.get('health_reasons', [])) or 'no reason given'})")
    return verdict


def truth_of(sim: Simulator, start: datetime, end: datetime, taps: list[PlannedTap]) -> list[TrueFault]:
    return device_faults(sim, start, end) + reported_faults(taps) + door_openings(sim, start, end)


def night_batches(sim: Simulator, start: datetime, end: datetime,
             taps: list[PlannedTap]) -> Iterator[tuple[datetime, list[Inbound]]]:
    batch: list[Inbound] = []
    first = start
    last = start
    for at, messages in traffic(sim, start, end, on_taps=taps.extend):
        if batch and at >= first + BATCH:
            yield last, batch
            batch = []
        if not batch:
            first = at
        ts = at.timestamp()
        batch.extend(Inbound(m.topic, m.payload, ts) for m in messages)
        last = at
    if batch:
        yield last, batch


ROUND_FIELDS = ("status", "expected", "visited", "late", "coverage")


def compare_rounds(truths: list[RoundTruth], views: list[dict[str, Any]]) -> list[str]:
    """Every true round's figures against the gateway's view of it; each difference, spelled out."""
    seen = {(v["route"], datetime.fromisoformat(v["scheduled_start"])): v for v in views}
    wrong: list[str] = []
    for truth in truths:
        at = datetime.fromisoformat(truth.scheduled_start)
        name = f"{truth.route} {at:%m-%d %H:%M} ({truth.mistake or 'walked as planned'})"
        view = seen.get((truth.route, at))
        if view is None:
            wrong.append(f"{name}: the gateway has no such round")
            continue
        diffs = [f"{k} {view[k]} (truly {getattr(truth, k)})" for k in ROUND_FIELDS
                 if view[k] != getattr(truth, k)]
        if sorted(view["missed"]) != sorted(truth.missed):
            diffs.append(f"missed {sorted(view['missed'])} (truly {sorted(truth.missed)})")
        if diffs:
            wrong.append(f"{name}: " + ", ".join(diffs))
    return wrong


def _opened(ticket: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ticket["opened_at"])


def _self_resolved(ticket: dict[str, Any]) -> datetime | None:
    """When the gateway resolved the ticket by itself (its condition cleared), if it did."""
    for step in ticket.get("history", []):
        if step.get("to") == "resolved":
            return datetime.fromisoformat(step["at"])
    return None


def judge(truth: list[TrueFault], tickets: list[dict[str, Any]]) -> list[Finding]:
    findings: list[Finding] = []
    taken: dict[int, dict[str, Any]] = {}  # index of the fault -> its ticket
    # Planned inspections come from the schedule, not from a fault: they are not conclusions to judge.
    tickets = [t for t in tickets if t.get("source") != "planned"]
    for ticket in sorted(tickets, key=_opened):
        opened = _opened(ticket)
        rule, device = ticket["rule"], ticket["device_id"]
        matches = [i for i, f in enumerate(truth) if f.accepts(rule, device)
                   and f.start - timedelta(minutes=2) <= opened <= (f.end or opened) + timedelta(minutes=15)]
        if not matches:
            findings.append(Finding("false_alarm", rule, f"{rule} at {device} opened {opened:%m-%d %H:%M}", rule))
            continue
        fresh = [i for i in matches if i not in taken]
        if not fresh:
            f = truth[matches[0]]
            findings.append(Finding("duplicate", f.kind, f"{rule} at {device} opened {opened:%m-%d %H:%M}: "
                                    f"a second ticket for {f.title} ({taken[matches[0]]['id']})", rule))
            continue
        taken[fresh[0]] = ticket
    for i, f in enumerate(truth):
        if i not in taken:
            findings.append(Finding("missed", f.kind, f"no ticket for {f.title} from {f.start:%m-%d %H:%M}"))
            continue
        ticket = taken[i]
        opened = _opened(ticket)
        resolved = _self_resolved(ticket)
        rule = ticket["rule"]
        if opened > f.detect_by:
            findings.append(Finding("late", f.kind, f"{f.title}: opened {opened:%H:%M:%S}, due by "
                                    f"{f.detect_by:%H:%M:%S}", rule))
        elif resolved is not None and (f.end is None or resolved < f.end):
            findings.append(Finding("resolved_early", f.kind, f"{f.title}: resolved {resolved:%H:%M} "
                                    f"before the fault ended ({f.end:%H:%M})" if f.end else "", rule))
        else:
            findings.append(Finding("ok", f.kind, f"{f.title}: {ticket['id']}", rule))
    return findings


FIRST_NIGHT = date(2026, 11, 10)  # a fixed calendar: the truth never depends on today's date


def _night(args: tuple[Site, int, date]) -> NightVerdict:
    site, seed, day = args
    verdict = run_night(site, seed, day)
    verdict.result = None  # the conclusions are judged; the pool need not carry them back
    return verdict


def run_nights(site: Site, nights: int, *, first_seed: int = 1, first_day: date = FIRST_NIGHT,
               workers: int = 1) -> list[NightVerdict]:
    """Night i (0-based) has seed first_seed + i on first_day + i days, in `workers` processes."""
    jobs = [(site, first_seed + i, first_day + timedelta(days=i)) for i in range(nights)]
    if workers <= 1:
        return [_night(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(_night, jobs))


@dataclass
class Score:
    """Precision and recall over many nights, overall and per fault kind."""

    tickets: Counter[str] = field(default_factory=Counter)  # per kind: tickets attributed
    correct: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    health_checked: int = 0
    health_wrong: list[str] = field(default_factory=list)
    rounds_checked: int = 0
    rounds_wrong: list[str] = field(default_factory=list)
    mistakes: Counter[str] = field(default_factory=Counter)
    rule_tickets: Counter[str] = field(default_factory=Counter)  # tickets by the rule that opened them
    rule_correct: Counter[str] = field(default_factory=Counter)  # ... that were a fault's one ticket in time

    def add(self, verdict: NightVerdict) -> None:
        for f in verdict.findings:
            if f.rule:
                self.rule_tickets[f.rule] += 1
                self.rule_correct[f.rule] += f.verdict == "ok"
        self.rounds_checked += verdict.rounds_checked
        self.rounds_wrong += [f"seed {verdict.seed} {verdict.day}: {w}" for w in verdict.rounds_wrong]
        self.mistakes.update(verdict.mistakes)
        self.health_checked += verdict.health_checked
        self.health_wrong += [f"seed {verdict.seed} {verdict.day}: {w}" for w in verdict.health_wrong]
        for f in verdict.findings:
            if f.verdict != "missed":
                self.tickets[f.kind] += 1
            if f.verdict not in ("duplicate", "false_alarm"):
                self.faults[f.kind] += 1
            if f.verdict == "ok":
                self.correct[f.kind] += 1
            else:
                self.wrong.append(f"seed {verdict.seed} {verdict.day}: {f.verdict}: {f.detail}")

    @staticmethod
    def _ratio(a: int, b: int) -> float:
        return a / b if b else 1.0

    def precision(self, kind: str | None = None) -> float:
        if kind is None:
            return self._ratio(sum(self.correct.values()), sum(self.tickets.values()))
        return self._ratio(self.correct[kind], self.tickets[kind])

    def recall(self, kind: str | None = None) -> float:
        if kind is None:
            return self._ratio(sum(self.correct.values()), sum(self.faults.values()))
        return self._ratio(self.correct[kind], self.faults[kind])

    def table(self) -> str:
        kinds = sorted(set(self.tickets) | set(self.faults))
        lines = [f"{'fault kind / rule':34} {'faults':>6} {'tickets':>7} {'ok':>5} {'precision':>9} {'recall':>6}"]
        for k in kinds:
            lines.append(f"{k:34} {self.faults[k]:6} {self.tickets[k]:7} {self.correct[k]:5} "
                         f"{self.precision(k):9.3f} {self.recall(k):6.3f}")
        lines.append(f"{'all':34} {sum(self.faults.values()):6} {sum(self.tickets.values()):7} "
                     f"{sum(self.correct.values()):5} {self.precision():9.3f} {self.recall():6.3f}")
        lines.append("")
        lines.append(f"{'rule (of the tickets)':34} {'tickets':>7} {'ok':>5} {'precision':>9}")
        for rule in sorted(self.rule_tickets):
            lines.append(f"{rule:34} {self.rule_tickets[rule]:7} {self.rule_correct[rule]:5} "
                         f"{self._ratio(self.rule_correct[rule], self.rule_tickets[rule]):9.3f}")
        return "\n".join(lines)
