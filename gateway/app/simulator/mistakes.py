"""The night's patrol mistakes: what guards get wrong on their rounds, chosen per night (pure, seeded).

A night (site-local evening of day D: D 12:00 to D+1 12:00, as for the fault script) has two or
three mistakes, each on its own round (route, scheduled start). The kinds:

- `missed_first`:   the guard does not tap the route's first checkpoint and walks the rest on time;
- `early_start`:    the guard sets off early: the first tap comes before the scheduled start but
                    inside that checkpoint's tolerance, and every later tap is as far ahead (still
                    inside its window: the guard keeps ahead of plan, never outside it);
- `skipped_middle`: the guard walks past a middle checkpoint;
- `wrong_order`:    on an ordered route two neighbouring checkpoints are tapped the wrong way round,
                    both inside their own windows (where the two windows overlap);
- `late`:           the guard is held up before a middle checkpoint and reaches it and every one
                    after it `shift` behind plan (beyond its tolerance), hurrying to finish inside
                    the route's limit;
- `shared_round`:   a second guard takes over at a middle checkpoint and taps the rest;
- `not_walked`:     nobody walks the round.

The walker (patrol.py) plays a mistake; what it means for the round's figures is in truth.py.

Every kind occurs over any 7 nights in a row: a night's first mistake is of kind
KINDS[(day number + seed) % 7], so consecutive days with one seed, consecutive seeds on one day,
and seed n on day n (steps of 2, coprime with 7) all go round every kind. The other mistakes of
the night are drawn from the seed. A kind no route of the site allows (wrong order without an
ordered route, a shared round with one guard) is left out that night.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from gateway.patrol.model import PatrolPlan, Route, RouteCheckpoint
from gateway.patrol.schedule import starts_between

MISSED_FIRST = "missed_first"
EARLY_START = "early_start"
SKIPPED_MIDDLE = "skipped_middle"
WRONG_ORDER = "wrong_order"
LATE = "late"
SHARED_ROUND = "shared_round"
NOT_WALKED = "not_walked"
KINDS = (MISSED_FIRST, EARLY_START, SKIPPED_MIDDLE, WRONG_ORDER, LATE, SHARED_ROUND, NOT_WALKED)

# How far a guard's tap strays from a checkpoint's `at` on a normal round: a third of its tolerance,
# at most this (the walker uses it; the mistakes keep their taps clear of it).
WALK_JITTER = timedelta(seconds=60)
# A late tap stays this far inside the round's limit, so the walking gaps after it cannot push the
# taps that follow past the round's end (where they would not count at all).
END_MARGIN = timedelta(minutes=2)
_CLEAR = timedelta(seconds=30)  # how far inside (or outside) a window a mistake's taps stay
_MIN_OVERLAP = timedelta(minutes=2)  # wrong_order: room for two taps in both windows at once
_NIGHT_STARTS = time(12, 0)


@dataclass(frozen=True, slots=True)
class PatrolIncident:
    """One patrol mistake on one round.

    `checkpoints` names what the mistake is about: the checkpoint missed (`missed_first`,
    `skipped_middle`), the two tapped the wrong way round in the order tapped (`wrong_order`), the
    first late one (`late`), the first one the second guard taps (`shared_round`); empty otherwise.
    `shift`: how far behind (`late`) or ahead (`early_start`) of plan the guard is.
    """

    kind: str
    route: str
    start: datetime  # the round's scheduled start
    title: str
    checkpoints: tuple[str, ...] = ()
    shift: timedelta = timedelta(0)


def jitter_limit(stop: RouteCheckpoint) -> timedelta:
    """The most a normal tap at `stop` strays from its `at`."""
    return min(WALK_JITTER, stop.tolerance / 3)


def overlap(first: RouteCheckpoint, second: RouteCheckpoint) -> tuple[timedelta, timedelta]:
    """The offsets (from the round's anchor) inside both checkpoints' windows; empty if lo > hi."""
    lo = max(first.at - first.tolerance, second.at - second.tolerance)
    hi = min(first.at + first.tolerance, second.at + second.tolerance)
    return lo, hi


# -- one mistake of each kind ---------------------------------------------------------------------
# Each gives what a mistake of its kind on `route` is about (named checkpoints, shift), or None
# when the route does not allow it.

Choice = tuple[tuple[str, ...], timedelta] | None
_NONE = timedelta(0)


def _missed_first(route: Route, rng: random.Random, guards: int) -> Choice:
    return ((route.checkpoints[0].id,), _NONE) if len(route.checkpoints) >= 2 else None


def _early_start(route: Route, rng: random.Random, guards: int) -> Choice:
    # The first tap (`shift` before its `at`) must come before the start; every tap, jitter
    # included, must stay inside its window.
    lo = route.checkpoints[0].at + timedelta(minutes=1)
    hi = min(s.tolerance - jitter_limit(s) for s in route.checkpoints) - _CLEAR
    if hi < lo:
        return None
    return (), timedelta(seconds=round(rng.uniform(lo.total_seconds(), hi.total_seconds())))


def _skipped_middle(route: Route, rng: random.Random, guards: int) -> Choice:
    if len(route.checkpoints) < 3:
        return None
    return (rng.choice(route.checkpoints[1:-1]).id,), _NONE


def _wrong_order(route: Route, rng: random.Random, guards: int) -> Choice:
    if not route.ordered:
        return None
    # Not the first checkpoint: the round's anchor stays set by an ordinary first tap.
    pairs = [(a, b) for a, b in itertools.pairwise(route.checkpoints[1:])
             if (room := overlap(a, b))[1] - room[0] >= _MIN_OVERLAP]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    return (b.id, a.id), _NONE


def _late(route: Route, rng: random.Random, guards: int) -> Choice:
    # Held up before a middle checkpoint: behind by its tolerance plus 2-5 min, so its tap is
    # clearly late, and still clear of the round's limit.
    choices = [s for s in (route.checkpoints[1:-1] or route.checkpoints[1:])
               if s.at + s.tolerance + timedelta(minutes=2) + jitter_limit(s) <= route.limit - END_MARGIN]
    if not choices:
        return None
    stop = rng.choice(choices)
    room = route.limit - END_MARGIN - stop.at - jitter_limit(stop) - stop.tolerance
    extra = rng.uniform(120.0, min(300.0, room.total_seconds()))
    return (stop.id,), stop.tolerance + timedelta(seconds=round(extra))


def _shared_round(route: Route, rng: random.Random, guards: int) -> Choice:
    if guards < 2 or len(route.checkpoints) < 2:
        return None
    return (rng.choice(route.checkpoints[1:]).id,), _NONE


def _not_walked(route: Route, rng: random.Random, guards: int) -> Choice:
    return (), _NONE


_CHOOSE: dict[str, Callable[[Route, random.Random, int], Choice]] = {
    MISSED_FIRST: _missed_first, EARLY_START: _early_start, SKIPPED_MIDDLE: _skipped_middle,
    WRONG_ORDER: _wrong_order, LATE: _late, SHARED_ROUND: _shared_round, NOT_WALKED: _not_walked,
}

# What the operator's log says (route, time, named checkpoints a/b, shift in minutes).
_TITLES = {
    MISSED_FIRST: "巡更漏首点 Guard misses the first checkpoint {a} on {route} at {at}",
    EARLY_START: "巡更提前 Guard sets off {min} min early on {route} at {at} (first tap inside its tolerance)",
    SKIPPED_MIDDLE: "巡更漏点 Guard skips {a} on {route} at {at}",
    WRONG_ORDER: "巡更顺序错 Guard taps {a} before {b} on {route} at {at}",
    LATE: "巡更迟到 Guard held up, {min} min behind from {a} on {route} at {at}",
    SHARED_ROUND: "两人合巡 Two guards share {route} at {at} (handover at {a})",
    NOT_WALKED: "巡更未巡 Nobody walks {route} at {at}",
}


def make_mistake(kind: str, route: Route, start: datetime, tz: tzinfo, *, guards: int, seed: int = 0,
                 ) -> PatrolIncident | None:
    """A mistake of `kind` on the round of `route` at `start` (None if the route does not allow it)."""
    rng = random.Random(f"{seed}:{kind}:{route.id}:{start.isoformat()}")
    choice = _CHOOSE[kind](route, rng, guards)
    if choice is None:
        return None
    named, shift = choice
    a, b = (*named, "", "")[:2]
    title = _TITLES[kind].format(a=a, b=b, route=route.id, at=f"{start.astimezone(tz):%H:%M}",
                                 min=f"{shift.total_seconds() / 60:.1f}")
    return PatrolIncident(kind, route.id, start, title, named, shift)


# -- the night's choice ---------------------------------------------------------------------------

def rotated_kind(seed: int, day: date) -> str:
    """The kind of the night's first mistake: every kind over any 7 nights in a row."""
    return KINDS[(day.toordinal() + seed) % len(KINDS)]


def night_mistakes(plan: PatrolPlan, tz: tzinfo, seed: int, day: date) -> tuple[PatrolIncident, ...]:
    """The mistakes of the night of `day`, one per round, in time order."""
    rng = random.Random(f"{seed}:mistakes:{day.isoformat()}")
    noon = datetime.combine(day, _NIGHT_STARTS, tz)
    tiny = timedelta(microseconds=1)  # starts_between is (after, until]; the night is [noon, noon + 1 day)
    rounds = [(route, start) for route in plan.routes
              for start in starts_between(route.schedule, tz, noon - tiny, noon + timedelta(days=1) - tiny)]
    kinds = [rotated_kind(seed, day), *rng.choices(KINDS, k=rng.randint(1, 2))]
    chosen: list[PatrolIncident] = []
    taken: set[tuple[str, datetime]] = set()
    for kind in kinds:
        free = [(r, s) for r, s in rounds if (r.id, s) not in taken]
        candidates = [m for r, s in free
                      if (m := make_mistake(kind, r, s, tz, guards=len(plan.guards), seed=seed)) is not None]
        if not candidates:
            continue
        mistake = rng.choice(candidates)
        taken.add((mistake.route, mistake.start))
        chosen.append(mistake)
    return tuple(sorted(chosen, key=lambda m: (m.start, m.route)))
