"""Guards walking the routes of the patrol file on their cron schedule (pure).

Each round of each route is walked by one guard (the guards rotate over the routes night by
night). At a checkpoint with a fixed reader the guard taps their card on it; at a checkpoint with
a tag they read the tag with their handheld. Guards set off within 90 s of the scheduled start
(and within the route's start grace) and reach each checkpoint within a minute of its `at` offset
(a third of its tolerance at most), so the first tap may come before the scheduled start, inside
the first checkpoint's tolerance. Later taps keep to the round as the tracker times it: from the
anchor its first tap sets (gateway/patrol/rounds.py), so a normal round is all `ok` and a tap is
`late` exactly when the tracker will judge it so. Ordered routes are walked in order, free-order
routes in a shuffled order that still fits the windows.
A round with one of the night's mistakes (mistakes.py) is walked with it: a checkpoint left out,
the guard ahead or behind plan, two checkpoints the wrong way round, a second guard taking over,
or nobody at all. What the tracker should make of each round is in truth.py.
After a checkpoint in a zone where a lamp has failed, the guard taps the lamp_out event card
(once per route and night); once a night someone reports an obstruction.

A round is a pure function of (seed, route, start): walking the same night twice gives the same taps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from gateway.app.simulator import mistakes as m
from gateway.app.simulator.faults import FaultPlan
from gateway.app.simulator.mistakes import PatrolIncident, jitter_limit, overlap
from gateway.app.simulator.site_model import SimSite
from gateway.patrol.model import Checkpoint, EventCard, Guard, Route, RouteCheckpoint
from gateway.patrol.schedule import starts_between

MIN_GAP = timedelta(seconds=25)  # walking between two taps takes at least this
EVENT_AFTER = timedelta(seconds=35)  # the event card follows the checkpoint tap
_TINY = timedelta(microseconds=1)
_MAX_DEPARTURE = timedelta(seconds=90)  # how long after the scheduled start a guard sets off


@dataclass(frozen=True, slots=True)
class PlannedTap:
    ts: datetime  # the reader's time of the tap
    reader: str
    tag: str
    guard: str
    route: str
    round_start: datetime
    checkpoint: str  # the checkpoint tapped (for an event card: the one it reports on)
    event: str | None = None  # an event card's event
    late: bool = False  # scripted late (beyond the checkpoint's tolerance)


@dataclass(frozen=True, slots=True)
class _Step:
    """One checkpoint of a round as walked: its offset from the round's anchor, and who taps it."""

    offset: timedelta
    stop: RouteCheckpoint
    guard: Guard


class PatrolWalker:
    def __init__(self, site: SimSite, faults: FaultPlan, seed: int) -> None:
        self.site, self.faults, self.seed = site, faults, seed
        self.plan = site.plan
        self._checkpoints: dict[str, Checkpoint] = {c.id: c for c in self.plan.checkpoints}
        self._cards: dict[str, EventCard] = {c.event: c for c in self.plan.event_cards}
        self._cache: dict[tuple[str, datetime], list[PlannedTap]] = {}
        self._day_starts: dict[tuple[str, date], list[datetime]] = {}

    def due(self, after: datetime, until: datetime) -> list[PlannedTap]:
        """Every tap with after < ts <= until, in time order."""
        out: list[PlannedTap] = []
        for route in self.plan.routes:
            first = after - route.span - timedelta(minutes=10)
            # A round's first tap may come before its start, as early as the tracker opens the round.
            for start in self._starts(route, first, until + route.early_margin):
                out += [t for t in self.round_taps(route, start) if after < t.ts <= until]
        if len(self._cache) > 256:
            self._cache.clear()
        return sorted(out, key=lambda t: t.ts)

    def _starts(self, route: Route, after: datetime, until: datetime) -> list[datetime]:
        """starts_between for the route, from a per-day cache: the walker asks every few seconds."""
        tz = self.site.tz
        out: list[datetime] = []
        day = after.astimezone(tz).date()
        while day <= until.astimezone(tz).date():
            key = (route.id, day)
            if key not in self._day_starts:
                midnight = datetime.combine(day, time(0), tz)
                self._day_starts[key] = starts_between(route.schedule, tz, midnight - _TINY,
                                                       datetime.combine(day + timedelta(days=1), time(0), tz) - _TINY)
            out += [s for s in self._day_starts[key] if after < s <= until]
            day += timedelta(days=1)
        if len(self._day_starts) > 64:
            self._day_starts.clear()
        return out

    def guard_for(self, route: Route, start: datetime) -> Guard | None:
        guards = self.plan.guards
        if not guards:
            return None
        index = self.plan.routes.index(route)
        night = self.faults.night_of(start).toordinal()
        return guards[(index + night) % len(guards)]

    def helper_for(self, route: Route, start: datetime) -> Guard | None:
        """The guard who takes over a shared round: the next one on the list after the round's own."""
        guard = self.guard_for(route, start)
        if guard is None or len(self.plan.guards) < 2:
            return None
        guards = self.plan.guards
        return guards[(guards.index(guard) + 1) % len(guards)]

    def round_taps(self, route: Route, start: datetime) -> list[PlannedTap]:
        key = (route.id, start)
        if key not in self._cache:
            self._cache[key] = self.walk(route, start, self.faults.incident(route.id, start))
        return self._cache[key]

    def walk(self, route: Route, start: datetime, mistake: PatrolIncident | None = None) -> list[PlannedTap]:
        """The taps of the round of `route` at `start`, walked with `mistake` (None: as planned)."""
        guard = self.guard_for(route, start)
        if guard is None or (mistake is not None and mistake.kind == m.NOT_WALKED):
            return []
        rng = random.Random(f"{self.seed}:{route.id}:{start.isoformat()}")
        depart = start + min(_MAX_DEPARTURE * rng.uniform(0, 1), route.start_grace)
        stops = list(route.checkpoints)
        if not route.ordered:
            noisy = [(s.at + s.tolerance * rng.uniform(-0.3, 0.3), s) for s in stops]
            # A guard setting off early walks the listed order, so the first tap is the one meant
            # to come before the start.
            if mistake is None or mistake.kind != m.EARLY_START:
                stops = [s for _, s in sorted(noisy, key=lambda pair: pair[0])]
        steps = [_Step(s.at + jitter_limit(s) * rng.uniform(-1, 1), s, guard) for s in stops]
        if mistake is not None:
            depart, steps = self._play(mistake, route, start, depart, steps)
        return self._taps(route, start, depart, steps)

    def _play(self, mistake: PatrolIncident, route: Route, start: datetime, depart: datetime,
              steps: list[_Step]) -> tuple[datetime, list[_Step]]:
        """The departure and steps of a round walked with `mistake` (see mistakes.py)."""
        kind, named = mistake.kind, mistake.checkpoints
        ids = [s.stop.id for s in steps]
        if kind in (m.MISSED_FIRST, m.SKIPPED_MIDDLE):
            return depart, [s for s in steps if s.stop.id not in named]
        if kind == m.EARLY_START:
            # Off `shift` before plan: the first tap exactly so (before the start), the rest as far
            # ahead of their own time as well.
            first = replace(steps[0], offset=steps[0].stop.at)
            return start, [replace(s, offset=s.offset - mistake.shift) for s in [first, *steps[1:]]]
        if kind == m.WRONG_ORDER:
            later, earlier = (ids.index(c) for c in named)
            lo, hi = overlap(steps[earlier].stop, steps[later].stop)
            # Both taps where both windows are open: the later checkpoint a quarter of the way in,
            # then back to the earlier one three quarters of the way in.
            out = list(steps)
            out[min(earlier, later)] = replace(steps[later], offset=lo + (hi - lo) / 4)
            out[max(earlier, later)] = replace(steps[earlier], offset=lo + (hi - lo) * 3 / 4)
            return depart, out
        if kind == m.LATE:
            k, cap = ids.index(named[0]), route.limit - m.END_MARGIN
            return depart, [*steps[:k], *(replace(s, offset=min(s.offset + mistake.shift, cap)) for s in steps[k:])]
        if kind == m.SHARED_ROUND and (helper := self.helper_for(route, start)) is not None:
            k = ids.index(named[0])
            return depart, [*steps[:k], *(replace(s, guard=helper) for s in steps[k:])]
        return depart, steps

    def _taps(self, route: Route, start: datetime, depart: datetime, steps: list[_Step]) -> list[PlannedTap]:
        taps: list[PlannedTap] = []
        last: datetime | None = None
        anchor: datetime | None = None
        for step in steps:
            stop = step.stop
            ts = (depart if anchor is None else anchor) + step.offset
            if last is not None and ts < last + MIN_GAP:
                ts = last + MIN_GAP
            # Readers keep time to the second: the tap is what the reader will send, so the truth
            # drawn from it holds for taps that went through MQTT too.
            ts = ts.replace(microsecond=0)
            cp = self._checkpoints[stop.id]
            # The tracker anchors the round on its first counted tap, never before the start nor after
            # the grace (gateway/patrol/rounds.py): the later taps are timed from there.
            round_anchor = anchor or min(max(ts - stop.at, start), start + route.start_grace)
            late = ts - (round_anchor + stop.at) > stop.tolerance
            tap = self._tap(step.guard, route, start, cp, ts, late)
            if tap is None:
                continue
            anchor = round_anchor
            taps.append(tap)
            last = ts
            event = self._observation(route, start, cp, ts)
            if event is not None and event in self._cards:
                when = ts + EVENT_AFTER
                taps.append(PlannedTap(when, tap.reader, self._cards[event].tag, step.guard.id, route.id, start,
                                       cp.id, event=event))
                last = when
        return taps

    def _tap(self, guard: Guard, route: Route, start: datetime, cp: Checkpoint, ts: datetime,
             late: bool) -> PlannedTap | None:
        if cp.reader and guard.card:  # a fixed reader: the guard's card on it
            return PlannedTap(ts, cp.reader, guard.card, guard.id, route.id, start, cp.id, late=late)
        if cp.tag and guard.reader:  # a tag: read with the guard's handheld
            return PlannedTap(ts, guard.reader, cp.tag, guard.id, route.id, start, cp.id, late=late)
        return None  # this guard cannot tap this checkpoint (no card or no handheld)

    def _observation(self, route: Route, start: datetime, cp: Checkpoint, ts: datetime) -> str | None:
        """What the guard reports at this checkpoint, if anything."""
        night = self.faults.night(self.faults.night_of(start))
        for fault in night.faults:
            if fault.kind != "lamp_dead" or not fault.active(ts):
                continue
            lamp = next(iter(fault.devices))
            try:
                zone = self.site.device(lamp).zone
            except KeyError:
                continue
            if zone != cp.zone or not self.faults.sky.dark(ts):
                continue
            # Once per route and night: on the first round after the lamp went dark, at the
            # first checkpoint of that zone on the route.
            visible = max(fault.start, self.faults.sky.lamps_on_at(night.day))
            rounds = starts_between(route.schedule, self.site.tz, visible, visible + timedelta(days=1))
            first_cp = next((s.id for s in route.checkpoints if self._checkpoints[s.id].zone == zone), None)
            if rounds and rounds[0] == start and first_cp == cp.id:
                return "lamp_out"
        if (route.id, cp.id) == self._obstruction(night.day) and start.astimezone(self.site.tz).hour == 0:
            return "obstruction"
        return None

    def _obstruction(self, day: date) -> tuple[str, str] | None:
        """Where tonight's obstruction (bikes in the fire lane) is found: on the midnight round."""
        if not self.plan.routes:
            return None
        pick = random.Random(f"{self.seed}:obstruction:{day.isoformat()}")
        route = pick.choice(self.plan.routes)
        return route.id, pick.choice(route.checkpoints).id
