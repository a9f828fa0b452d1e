"""Ground truth of a simulated site: what really happened, for an oracle to hold the gateway's
conclusions against. Pure: a function of the site, the seed and the time span.

Rounds (this part of the module; it stands on its own, other parts of the truth go beside it).
For each round the walker plans, the figures the patrol tracker must reach, computed from the script
(which taps were made, when, by whom) by the rules the tracker documents (gateway/patrol/tracker.py
and rounds.py, README "Patrol"), never by running the tracker. For a round of route R scheduled at S:

- A tap belongs to the round when it falls inside its span, S - R.early_margin to the round's end.
- The anchor A is set by the first tap that counts: clamp(tap - its checkpoint's `at`, S,
  S + start_grace). Until then deadlines run from S + start_grace; a round nobody counts a tap in
  has no anchor (`started_at` None).
- A checkpoint's window is A + at +/- tolerance, edges included. A tap counts unless its checkpoint
  already counted (`duplicate`), or, on an ordered route, a later checkpoint already counted at or
  before it (`out_of_order`: the guard went back, so the checkpoint walked past stays missed), or it
  comes before the window (`early`). Inside the window it is on time (`visited`), after it `late`.
  So a checkpoint missed costs only itself, and of two checkpoints tapped the wrong way round the
  one tapped first counts and the one gone back to is missed.
- A checkpoint with no counting tap is `missed`.
- visited = on time + late (the tracker's `visited`, what coverage counts: a late visit is a visit);
  coverage = visited / expected; `on_time` is reported beside it.
- status: `completed` when every checkpoint counted, ended at the last counting tap; else
  `incomplete`, ended at A + limit (S + start_grace + limit without an anchor).
- The round's guard is who made its first counting tap; each checkpoint keeps who tapped it.
- An event card tapped after a checkpoint (on the same reader, inside the event window) is an
  observation at that checkpoint, whatever the checkpoint's state.

The walker never repeats a tap within the tracker's debounce and each checkpoint here is on one
route, so every tap is judged in the round it was walked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from gateway.app.simulator.faults import FaultPlan
from gateway.app.simulator.mistakes import PatrolIncident
from gateway.app.simulator.patrol import PatrolWalker, PlannedTap
from gateway.app.simulator.site_model import SimSite
from gateway.app.simulator.sky import Sky
from gateway.patrol.model import PatrolPlan, Route, RouteCheckpoint
from gateway.patrol.rounds import round_id
from gateway.patrol.schedule import starts_between

# -- rounds ----------------------------------------------------------------------------------------
# Everything below up to the next section is the round part: RoundTruth, round_truth, round_truths.

# Per-checkpoint states and tap results, as the tracker names them.
VISITED, LATE, MISSED = "visited", "late", "missed"
OK, EARLY, OUT_OF_ORDER, DUPLICATE, OFF_SCHEDULE = "ok", "early", "out_of_order", "duplicate", "off_schedule"
COMPLETED, INCOMPLETE = "completed", "incomplete"


@dataclass(frozen=True, slots=True)
class TapTruth:
    ts: str  # ISO 8601, site-local
    reader: str
    tag: str
    checkpoint: str
    guard: str
    result: str  # the tracker's ack: ok | late | early | out_of_order | duplicate | off_schedule
    event: str | None = None  # an event card's event


@dataclass(frozen=True, slots=True)
class CheckpointTruth:
    id: str
    state: str  # visited (on time) | late | missed
    tapped_at: str | None  # the counting tap, ISO 8601 site-local
    guard: str | None
    delay_s: float | None  # counting tap - (A + at), seconds; negative = ahead
    events: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoundTruth:
    """What happened on one round, in the shape of the tracker's RoundView (JSON-able: `to_dict`)."""

    route: str
    round_id: str
    scheduled_start: str  # ISO 8601, site-local
    mistake: str | None  # the mistake walked (mistakes.py kind), None for a round walked as planned
    status: str  # completed | incomplete
    expected: int
    visited: int  # on time + late
    on_time: int
    late: int
    missed: tuple[str, ...]  # in route order
    coverage: float
    started_at: str | None
    ended_at: str
    guard: str | None
    checkpoints: tuple[CheckpointTruth, ...]
    taps: tuple[TapTruth, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: datetime | None, tz: tzinfo) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


@dataclass(slots=True)
class _Judge:
    """Judges one round's taps in time order by the tracker's documented rules."""

    route: Route
    start: datetime
    anchor: datetime | None = None
    counted: dict[str, tuple[PlannedTap, float]] = field(default_factory=dict)  # checkpoint -> tap, delay_s

    @property
    def end(self) -> datetime:
        return (self.anchor or self.start + self.route.start_grace) + self.route.limit

    def judge(self, tap: PlannedTap) -> str:
        stop = self._stop(tap.checkpoint)
        if not self.start - self.route.early_margin <= tap.ts <= self.end:
            return OFF_SCHEDULE
        anchor = self.anchor or min(max(tap.ts - stop.at, self.start), self.start + self.route.start_grace)
        if stop.id in self.counted:
            return DUPLICATE
        if self.route.ordered and self._goes_back(stop, tap.ts):
            return OUT_OF_ORDER
        expected = anchor + stop.at
        if tap.ts < expected - stop.tolerance:
            return EARLY
        self.anchor = anchor
        self.counted[stop.id] = (tap, (tap.ts - expected).total_seconds())
        return OK if tap.ts <= expected + stop.tolerance else LATE

    def _goes_back(self, stop: RouteCheckpoint, ts: datetime) -> bool:
        order = [s.id for s in self.route.checkpoints]
        return any(order.index(cp) > order.index(stop.id) and tap.ts <= ts for cp, (tap, _) in self.counted.items())

    def _stop(self, checkpoint: str) -> RouteCheckpoint:
        return next(s for s in self.route.checkpoints if s.id == checkpoint)


def round_truth(plan: PatrolPlan, route: Route, start: datetime, taps: list[PlannedTap], tz: tzinfo,
                mistake: PatrolIncident | None = None) -> RoundTruth:
    """The truth of the round of `route` at `start` walked with `taps` (its own, event cards too)."""
    judge = _Judge(route, start)
    tap_truths: list[TapTruth] = []
    results: dict[str, str] = {}  # checkpoint -> the result of its counting tap
    events: dict[str, list[str]] = {}
    last: dict[str, tuple[str, datetime, str]] = {}  # reader -> (checkpoint, ts, result): the card's context
    for tap in sorted(taps, key=lambda t: t.ts):
        if tap.event is None:
            result = judge.judge(tap)
            last[tap.reader] = (tap.checkpoint, tap.ts, result)
            if result in (OK, LATE):
                results[tap.checkpoint] = result
        else:
            context = last.get(tap.reader)
            attached = (context is not None and timedelta(0) <= tap.ts - context[1] <= plan.event_window
                        and context[0] == tap.checkpoint)
            result = OK if attached else OUT_OF_ORDER
            if attached and context is not None and context[2] != OFF_SCHEDULE:
                events.setdefault(tap.checkpoint, []).append(tap.event)
        tap_truths.append(TapTruth(_iso(tap.ts, tz) or "", tap.reader, tap.tag, tap.checkpoint, tap.guard, result,
                                   tap.event))
    checkpoints = []
    for stop in route.checkpoints:
        counted = judge.counted.get(stop.id)
        state = {OK: VISITED, LATE: LATE}.get(results.get(stop.id, ""), MISSED)
        checkpoints.append(CheckpointTruth(
            stop.id, state, _iso(counted[0].ts, tz) if counted else None, counted[0].guard if counted else None,
            counted[1] if counted else None, tuple(events.get(stop.id, ()))))
    expected = len(route.checkpoints)
    late = sum(1 for c in checkpoints if c.state == LATE)
    on_time = sum(1 for c in checkpoints if c.state == VISITED)
    missed = tuple(c.id for c in checkpoints if c.state == MISSED)
    first = min((tap for tap, _ in judge.counted.values()), key=lambda t: t.ts, default=None)
    if missed:
        status, ended = INCOMPLETE, judge.end
    else:
        status, ended = COMPLETED, max(tap.ts for tap, _ in judge.counted.values())
    return RoundTruth(
        route=route.id, round_id=round_id(route.id, start, tz), scheduled_start=_iso(start, tz) or "",
        mistake=mistake.kind if mistake else None, status=status, expected=expected, visited=on_time + late,
        on_time=on_time, late=late, missed=missed, coverage=(on_time + late) / expected if expected else 0.0,
        started_at=_iso(judge.anchor, tz), ended_at=_iso(ended, tz) or "",
        guard=first.guard if first else None, checkpoints=tuple(checkpoints), taps=tuple(tap_truths))


def round_truths(sim_site: SimSite, seed: int, start: datetime, end: datetime) -> list[RoundTruth]:
    """The truth of every round the simulator's guards walk (seed `seed`, faults on, as the engine
    does) whose scheduled start is in [start, end) and that has ended by `end`; by start, then route."""
    faults = FaultPlan(sim_site, Sky(sim_site.latitude, sim_site.longitude, sim_site.tz), seed)
    walker = PatrolWalker(sim_site, faults, seed)
    tiny = timedelta(microseconds=1)  # starts_between is (after, until]
    out = []
    for route in sim_site.plan.routes:
        for at in starts_between(route.schedule, sim_site.tz, start - tiny, end - tiny):
            truth = round_truth(sim_site.plan, route, at, walker.round_taps(route, at), sim_site.tz,
                                faults.incident(route.id, at))
            if datetime.fromisoformat(truth.ended_at) <= end:
                out.append(truth)
    return sorted(out, key=lambda t: (datetime.fromisoformat(t.scheduled_start), t.route))
