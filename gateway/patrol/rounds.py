"""One patrol round: its timing rules, its mutable state, and the read-only views the API serves.

Timing of a round of route R scheduled at S (see tracker.py for how taps are judged):

- anchor A: when the round actually started. The first counted tap at checkpoint c with time t
  sets A = clamp(t - c.at, S, S + start_grace): a guard may start up to `start_grace` late without
  every later checkpoint counting as late. Until then the latest possible anchor, S + start_grace,
  is used for deadlines ("effective anchor"), so nothing is declared missed too early.
- window of checkpoint c: [A + c.at - c.tolerance, A + c.at + c.tolerance], both edges inclusive.
- end E = A + limit (inclusive). The round opens for taps at S minus the largest (tolerance - at),
  so a first checkpoint with `at: 0m` may be tapped a little before S.

A round keeps every checkpoint tap judged in it (`taps`), so that a buffered tap made before taps
already judged can have the round judged again in the order the taps were made (tracker.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from gateway.patrol.day import patrol_day
from gateway.patrol.model import PatrolPlan, Route, RouteCheckpoint

PENDING, VISITED, LATE, MISSED = "pending", "visited", "late", "missed"
SCHEDULED, IN_PROGRESS, COMPLETED, INCOMPLETE = "scheduled", "in_progress", "completed", "incomplete"


def round_id(route: str, start: datetime, tz: tzinfo) -> str:
    """Stable, readable id: '<route>@<site-local start, minutes, with offset>'.

    The offset keeps the two 02:30 starts of a fall-back night apart.
    """
    return f"{route}@{start.astimezone(tz).isoformat(timespec='minutes')}"


def _iso(value: datetime | None, tz: tzinfo) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value is not None else None


@dataclass(slots=True)
class Visit:
    """What happened at one checkpoint of one round."""

    checkpoint: str
    state: str = PENDING
    tapped_at: datetime | None = None
    guard: str | None = None
    delay_s: float | None = None  # tap time minus expected time (A + at); negative = ahead
    missed_at: datetime | None = None  # the window end, once the miss was declared
    observations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counted(self) -> bool:
        return self.state in (VISITED, LATE)


@dataclass(frozen=True, slots=True)
class RoundTap:
    """A checkpoint tap judged in a round, whatever its result."""

    ts: datetime
    checkpoint: str
    guard: str | None


@dataclass(slots=True)
class Round:
    """Mutable state of one round; all datetimes are UTC."""

    route: Route
    id: str
    start: datetime
    anchor: datetime | None = None
    status: str = SCHEDULED
    ended_at: datetime | None = None
    guard: str | None = None
    visits: dict[str, Visit] = field(default_factory=dict)
    taps: list[RoundTap] = field(default_factory=list)  # in arrival order

    @classmethod
    def new(cls, route: Route, start: datetime, tz: tzinfo) -> Round:
        start = start.astimezone(UTC)
        visits = {c.id: Visit(c.id) for c in route.checkpoints}
        return cls(route=route, id=round_id(route.id, start, tz), start=start, visits=visits)

    # -- timing -------------------------------------------------------------------------------
    @property
    def effective_anchor(self) -> datetime:
        return self.anchor if self.anchor is not None else self.start + self.route.start_grace

    def anchor_for(self, stop: RouteCheckpoint, ts: datetime) -> datetime:
        """The anchor a counted tap at `stop` at `ts` implies (the fixed one once known)."""
        if self.anchor is not None:
            return self.anchor
        return min(max(ts - stop.at, self.start), self.start + self.route.start_grace)

    def window(self, stop: RouteCheckpoint, anchor: datetime | None = None) -> tuple[datetime, datetime]:
        base = (anchor or self.effective_anchor) + stop.at
        return base - stop.tolerance, base + stop.tolerance

    @property
    def opens(self) -> datetime:
        return self.start - self.route.early_margin

    @property
    def end(self) -> datetime:
        return self.effective_anchor + self.route.limit

    @property
    def ended(self) -> bool:
        return self.status in (COMPLETED, INCOMPLETE)

    def accepts(self, ts: datetime) -> bool:
        """A tap at `ts` belongs to this round's time span (whatever its result)."""
        return self.opens <= ts <= self.end

    def stop(self, checkpoint: str) -> RouteCheckpoint:
        for stop in self.route.checkpoints:
            if stop.id == checkpoint:
                return stop
        raise KeyError(checkpoint)

    # -- figures ------------------------------------------------------------------------------
    @property
    def visited(self) -> int:
        return sum(1 for v in self.visits.values() if v.counted)

    @property
    def late(self) -> int:
        return sum(1 for v in self.visits.values() if v.state == LATE)

    @property
    def missed(self) -> list[str]:
        return [v.checkpoint for v in self.visits.values() if v.state == MISSED]

    @property
    def all_visited(self) -> bool:
        return all(v.counted for v in self.visits.values())

    def view(self, plan: PatrolPlan, tz: tzinfo) -> RoundView:
        expected = len(self.visits)
        stops = []
        for stop in self.route.checkpoints:
            visit = self.visits[stop.id]
            opens, closes = self.window(stop)
            try:
                name = plan.checkpoint(stop.id).label
            except KeyError:
                name = stop.id
            stops.append(CheckpointView(
                id=stop.id, name=name, state=visit.state, window_from=_iso(opens, tz) or "",
                window_to=_iso(closes, tz) or "", tapped_at=_iso(visit.tapped_at, tz), guard=visit.guard,
                delay_s=visit.delay_s, observations=[dict(o) for o in visit.observations]))
        return RoundView(
            route=self.route.id, round_id=self.id, scheduled_start=_iso(self.start, tz) or "",
            status=self.status, expected=expected, visited=self.visited, missed=self.missed, late=self.late,
            coverage=self.visited / expected if expected else 0.0,
            route_name=self.route.name or self.route.id,
            started_at=_iso(self.anchor, tz), ended_at=_iso(self.ended_at, tz), guard=self.guard,
            checkpoints=stops, patrol_day=patrol_day(self.start, tz, plan.day_starts).isoformat())

    # -- persistence --------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "route": self.route.id, "id": self.id, "start": self.start.isoformat(),
            "anchor": self.anchor.isoformat() if self.anchor else None, "status": self.status,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None, "guard": self.guard,
            "visits": [{
                "checkpoint": v.checkpoint, "state": v.state, "guard": v.guard, "delay_s": v.delay_s,
                "tapped_at": v.tapped_at.isoformat() if v.tapped_at else None,
                "missed_at": v.missed_at.isoformat() if v.missed_at else None,
                "observations": v.observations,
            } for v in self.visits.values()],
            "taps": [[t.ts.isoformat(), t.checkpoint, t.guard] for t in self.taps],
        }

    @classmethod
    def load(cls, data: dict[str, Any], route: Route) -> Round:
        start = _parse(data["start"])
        if start is None:
            raise ValueError("a patrol snapshot round has no start; delete the snapshot to start afresh.")
        visits = {c.id: Visit(c.id) for c in route.checkpoints}
        for item in data["visits"]:
            if item["checkpoint"] in visits:  # a checkpoint dropped from the route since is forgotten
                visits[item["checkpoint"]] = Visit(
                    checkpoint=item["checkpoint"], state=item["state"], tapped_at=_parse(item["tapped_at"]),
                    guard=item["guard"], delay_s=item["delay_s"], missed_at=_parse(item["missed_at"]),
                    observations=list(item["observations"]))
        if "taps" in data:
            taps = [RoundTap(datetime.fromisoformat(ts).astimezone(UTC), cp, guard)
                    for ts, cp, guard in data["taps"] if cp in visits]
        else:  # a snapshot from before rounds kept their taps: the counted ones are what matters
            taps = sorted((RoundTap(v.tapped_at, v.checkpoint, v.guard) for v in visits.values()
                           if v.counted and v.tapped_at is not None), key=lambda t: t.ts)
        return cls(route=route, id=data["id"], start=start, anchor=_parse(data["anchor"]),
                   status=data["status"], ended_at=_parse(data["ended_at"]), guard=data["guard"],
                   visits=visits, taps=taps)


@dataclass(frozen=True, slots=True)
class CheckpointView:
    id: str
    name: str
    state: str  # pending | visited (on time) | late | missed
    window_from: str
    window_to: str
    tapped_at: str | None
    guard: str | None
    delay_s: float | None
    observations: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state, "window_from": self.window_from,
                "window_to": self.window_to, "tapped_at": self.tapped_at, "guard": self.guard,
                "delay_s": self.delay_s, "observations": self.observations}


@dataclass(frozen=True, slots=True)
class RoundView:
    """A round as CONTRACT.md's /api/patrol/rounds item, plus per-checkpoint detail."""

    route: str
    round_id: str
    scheduled_start: str  # ISO 8601, site-local offset
    status: str  # scheduled | in_progress | completed | incomplete
    expected: int
    visited: int
    missed: list[str]
    late: int
    coverage: float
    route_name: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    guard: str | None = None
    checkpoints: list[CheckpointView] = field(default_factory=list)
    patrol_day: str = ""  # YYYY-MM-DD: the night it belongs to (gateway/patrol/day.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route, "round_id": self.round_id, "scheduled_start": self.scheduled_start,
            "status": self.status, "expected": self.expected, "visited": self.visited,
            "missed": list(self.missed), "late": self.late, "coverage": self.coverage,
            "route_name": self.route_name, "started_at": self.started_at, "ended_at": self.ended_at,
            "guard": self.guard, "checkpoints": [c.to_dict() for c in self.checkpoints],
            "patrol_day": self.patrol_day,
        }

    def round_fields(self) -> dict[str, int | float]:
        """The fields of the `patrol_round` measurement (tags: site, route, round)."""
        return {"expected": self.expected, "visited": self.visited, "late": self.late,
                "missed": len(self.missed), "coverage": self.coverage}
