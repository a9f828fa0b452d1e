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
The night's PatrolIncident makes one guard skip a checkpoint and reach the later ones late.
After a checkpoint in a zone where a lamp has failed, the guard taps the lamp_out event card
(once per route and night); once a night someone reports an obstruction.

A round is a pure function of (seed, route, start): walking the same night twice gives the same taps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from gateway.app.simulator.faults import FaultPlan
from gateway.app.simulator.site_model import SimSite
from gateway.patrol.model import Checkpoint, EventCard, Guard, Route, RouteCheckpoint
from gateway.patrol.schedule import starts_between

MIN_GAP = timedelta(seconds=25)  # walking between two taps takes at least this
EVENT_AFTER = timedelta(seconds=35)  # the event card follows the checkpoint tap
_MAX_JITTER = timedelta(seconds=60)
_TINY = timedelta(microseconds=1)
_MAX_DEPARTURE = timedelta(seconds=90)  # how long after the scheduled start a guard sets off
# A late tap stays this far inside the round's limit, so the walking gaps after it cannot push the
# taps that follow past the round's end (where they would not count at all).
_END_MARGIN = timedelta(minutes=2)


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

    def round_taps(self, route: Route, start: datetime) -> list[PlannedTap]:
        key = (route.id, start)
        if key not in self._cache:
            self._cache[key] = self._walk(route, start)
        return self._cache[key]

    def _walk(self, route: Route, start: datetime) -> list[PlannedTap]:
        guard = self.guard_for(route, start)
        if guard is None:
            return []
        rng = random.Random(f"{self.seed}:{route.id}:{start.isoformat()}")
        incident = self.faults.incident(route.id, start)
        depart = start + min(_MAX_DEPARTURE * rng.uniform(0, 1), route.start_grace)
        # (offset from the round's anchor, checkpoint)
        plan: list[tuple[timedelta, RouteCheckpoint]] = []
        stops = list(route.checkpoints)
        if not route.ordered:
            noisy = [(s.at + s.tolerance * rng.uniform(-0.3, 0.3), s) for s in stops]
            stops = [s for _, s in sorted(noisy, key=lambda pair: pair[0])]
        skipped = False
        for stop in stops:
            if incident is not None and stop.id == incident.skip:
                skipped = True
                continue
            jitter = min(_MAX_JITTER, stop.tolerance / 3) * rng.uniform(-1, 1)
            offset = stop.at + jitter
            if skipped and incident is not None:
                # Late, but still inside the round: a tap after the round's end would not count at all.
                offset = min(offset + incident.late_by, route.limit - _END_MARGIN)
            plan.append((offset, stop))
        taps: list[PlannedTap] = []
        last: datetime | None = None
        anchor: datetime | None = None
        for offset, stop in plan:
            ts = (depart if anchor is None else anchor) + offset
            if last is not None and ts < last + MIN_GAP:
                ts = last + MIN_GAP
            cp = self._checkpoints[stop.id]
            # The tracker anchors the round on its first counted tap, never before the start nor after
            # the grace (gateway/patrol/rounds.py): the later taps are timed from there.
            round_anchor = anchor or min(max(ts - stop.at, start), start + route.start_grace)
            tap = self._tap(guard, route, start, cp, ts, ts - (round_anchor + stop.at) > stop.tolerance)
            if tap is None:
                continue
            anchor = round_anchor
            taps.append(tap)
            last = ts
            event = self._observation(route, start, cp, ts)
            if event is not None and event in self._cards:
                when = ts + EVENT_AFTER
                taps.append(PlannedTap(when, tap.reader, self._cards[event].tag, guard.id, route.id, start,
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
