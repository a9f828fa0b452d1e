"""The patrol file of CONTRACT.md: checkpoints, guards, event cards and routes.

`load_plan(path)` returns a validated `PatrolPlan` or raises `ConfigError` carrying every problem
as `FILE:LINE: message`. Pydantic checks the shape of each item; `_cross_check` then checks what
one item cannot know on its own (unknown or duplicate ids, clashing tags and readers, windows that
end after the route's limit) and reports each at the line of the offending value.

Durations are written like "45m", "10m", "30s", "1h30m" (a bare number is seconds).
Tags and cards are compared upper-cased with surrounding blanks removed, as readers send them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from gateway.core.errors import ConfigError, Problem
from gateway.core.validation import Duration, PositiveDuration, Severity, Strict
from gateway.core.yamlsource import LineMap, PathKey, load_yaml, validate
from gateway.patrol.day import DEFAULT_DAY_STARTS, parse_day_starts
from gateway.patrol.schedule import cron_problem

_IDENT = re.compile(r"^[A-Za-z0-9_.:-]+$")


def norm_tag(value: str) -> str:
    """The form tags are compared in: readers differ in case and trailing blanks."""
    return value.strip().upper()


def _tag(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "tag", "{value} must be a quoted string; write it in quotes (e.g. \"0017\") so YAML keeps "
            "leading zeros and letters", {"value": repr(value)})
    if not value.strip():
        raise PydanticCustomError("tag", "must not be empty; write the tag as the reader reports it")
    return norm_tag(value)


def _ident(value: Any) -> Any:
    if isinstance(value, str) and not _IDENT.match(value):
        raise PydanticCustomError(
            "ident", "{value} is not a valid id; use only letters, digits, '-', '_', '.' and ':'",
            {"value": repr(value)})
    return value


TagText = Annotated[str, BeforeValidator(_tag)]
Ident = Annotated[str, BeforeValidator(_ident)]


class Checkpoint(Strict):
    """A place guards must visit. `reader`: a fixed reader there; `tag`: a tag fixed there.

    `device`: the device the checkpoint is at (a lamp post, an extinguisher cabinet), when it is at
    one: what a guard reports there with an event card is about that device, so the report and the
    device's own rules share one ticket for the same fault.
    """

    id: Ident
    name: str = ""
    zone: str = "unassigned"
    location: str | None = None
    reader: Ident | None = None
    tag: TagText | None = None
    device: Ident | None = None

    @property
    def label(self) -> str:
        return self.name or self.id


class Guard(Strict):
    """A guard, known by the card they tap on fixed readers and/or the handheld reader they carry."""

    id: Ident
    name: str = ""
    card: TagText | None = None
    reader: Ident | None = None


# Events the standards treat as emergencies (on site within 1 h, handled within 2 h): a card for
# one of them is critical unless the patrol file says otherwise.
EMERGENCY_EVENTS = frozenset({"leak", "water_leak", "flood", "fire", "smoke", "trapped", "people_trapped", "gas_leak"})


class EventCard(Strict):
    """A card tapped right after a checkpoint to report what the guard saw there. `event` names the
    fault, like the `fault` label of the rules that detect it (`lamp_out`, `smoke`, ...). Without a
    `severity`, an emergency event (a water leak, fire, people trapped) is critical, any other minor."""

    tag: TagText
    event: Ident
    name: str = ""
    severity: Severity | None = None

    @property
    def effective_severity(self) -> Severity:
        if self.severity is not None:
            return self.severity
        return "critical" if self.event in EMERGENCY_EVENTS else "minor"


class RouteCheckpoint(Strict):
    """A checkpoint on a route: expected `at` this offset from the round start, +/- `tolerance`."""

    id: Ident
    at: Duration
    tolerance: Duration = timedelta(minutes=5)


class Route(Strict):
    id: Ident
    name: str = ""
    ordered: bool = False
    schedule: str
    start_grace: Duration = timedelta(0)
    limit: PositiveDuration
    checkpoints: list[RouteCheckpoint] = Field(min_length=1)

    @cached_property  # asked for on every tick and tap; a Route never changes once loaded
    def early_margin(self) -> timedelta:
        """How long before the scheduled start the first window can open (>= 0)."""
        return max([timedelta(0), *(c.tolerance - c.at for c in self.checkpoints)])

    @property
    def span(self) -> timedelta:
        """The longest a round can last, from its opening to its latest possible end."""
        return self.early_margin + self.start_grace + self.limit


class PatrolPlan(Strict):
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    guards: list[Guard] = Field(default_factory=list)
    event_cards: list[EventCard] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    # How soon after a checkpoint tap an event card still belongs to that checkpoint.
    event_window: Duration = timedelta(minutes=5)
    # When the patrol day starts (gateway/patrol/day.py): noon, so one night's rounds are one day.
    day_starts: Annotated[time, BeforeValidator(parse_day_starts)] = DEFAULT_DAY_STARTS

    def checkpoint(self, checkpoint_id: str) -> Checkpoint:
        for cp in self.checkpoints:
            if cp.id == checkpoint_id:
                return cp
        raise KeyError(checkpoint_id)

    def route(self, route_id: str) -> Route:
        for route in self.routes:
            if route.id == route_id:
                return route
        raise KeyError(route_id)


def _duplicates(
    items: Iterable[tuple[PathKey, str | None]], lines: LineMap, what: str
) -> list[Problem]:
    seen: dict[str, PathKey] = {}
    problems = []
    for loc, value in items:
        if value is None:
            continue
        if value in seen:
            first = lines.line(seen[value])
            problems.append(lines.problem(
                loc, f"{what} {value!r} is already used at line {first}; each must be unique"))
        else:
            seen[value] = loc
    return problems


def _cross_check(plan: PatrolPlan, lines: LineMap) -> list[Problem]:
    problems: list[Problem] = []
    cps, guards, cards = plan.checkpoints, plan.guards, plan.event_cards
    problems += _duplicates(((("checkpoints", i, "id"), c.id) for i, c in enumerate(cps)), lines,
                            "checkpoint id")
    problems += _duplicates(((("guards", i, "id"), g.id) for i, g in enumerate(guards)), lines, "guard id")
    problems += _duplicates(((("routes", i, "id"), r.id) for i, r in enumerate(plan.routes)), lines,
                            "route id")
    # A tag or reader must identify exactly one thing, whatever kind of thing it is.
    problems += _duplicates(
        [*((("checkpoints", i, "tag"), c.tag) for i, c in enumerate(cps)),
         *((("guards", i, "card"), g.card) for i, g in enumerate(guards)),
         *((("event_cards", i, "tag"), e.tag) for i, e in enumerate(cards))], lines, "tag")
    problems += _duplicates(
        [*((("checkpoints", i, "reader"), c.reader) for i, c in enumerate(cps)),
         *((("guards", i, "reader"), g.reader) for i, g in enumerate(guards))], lines, "reader")
    for i, cp in enumerate(cps):
        if cp.reader is None and cp.tag is None:
            problems.append(lines.problem(("checkpoints", i, "id"), (
                f"checkpoint {cp.id!r} has neither a reader nor a tag; add `reader:` (a fixed reader "
                "there) or `tag:` (a tag there for handheld readers)")))
    for i, guard in enumerate(guards):
        if guard.card is None and guard.reader is None:
            problems.append(lines.problem(("guards", i, "id"), (
                f"guard {guard.id!r} has neither a card nor a reader; add `card:` or `reader:` so "
                "their taps can be told apart")))
    known = {cp.id for cp in cps}
    for r, route in enumerate(plan.routes):
        problems += _route_problems(r, route, known, lines)
    return problems


def _route_problems(r: int, route: Route, known: set[str], lines: LineMap) -> list[Problem]:
    problems = []
    cron = cron_problem(route.schedule)
    if cron:
        problems.append(lines.problem(("routes", r, "schedule"), f"routes.{r}.schedule: {cron}"))
    where = ("routes", r, "checkpoints")
    problems += _duplicates(((( *where, i, "id"), c.id) for i, c in enumerate(route.checkpoints)), lines,
                            f"route {route.id!r} checkpoint")
    previous = timedelta(0)
    for i, stop in enumerate(route.checkpoints):
        if stop.id not in known:
            problems.append(lines.problem((*where, i, "id"), (
                f"route {route.id!r} names checkpoint {stop.id!r}, which is not in `checkpoints`; "
                "add it there or fix the spelling")))
        if stop.at + stop.tolerance > route.limit:
            problems.append(lines.problem((*where, i, "at"), (
                f"the window of {stop.id!r} on route {route.id!r} ends after the route's limit "
                f"({_fmt(route.limit)}); lower `at`/`tolerance` or raise `limit`")))
        if route.ordered and stop.at < previous:
            problems.append(lines.problem((*where, i, "at"), (
                f"route {route.id!r} is ordered but {stop.id!r} is expected before the checkpoint "
                "listed above it; list checkpoints in visiting order")))
        previous = max(previous, stop.at)
    return problems


def _fmt(delta: timedelta) -> str:
    minutes, seconds = divmod(int(delta.total_seconds()), 60)
    return f"{minutes}m{seconds}s" if seconds else f"{minutes}m"


class _Under(LineMap):
    """The line map of a section: paths are relative to `prefix` in the enclosing document."""

    def __init__(self, lines: LineMap, prefix: PathKey) -> None:
        super().__init__(lines.file, {})
        self._outer, self._prefix = lines, prefix

    def line(self, loc: Sequence[str | int]) -> int:
        return self._outer.line((*self._prefix, *loc))


def plan_from_data(data: Any, lines: LineMap, prefix: PathKey = ()) -> PatrolPlan:
    """Validate already-parsed YAML; `prefix` locates it in its file (e.g. ("patrol",) when inlined)."""
    plan = validate(PatrolPlan, data if data is not None else {}, lines, prefix)
    problems = _cross_check(plan, _Under(lines, prefix) if prefix else lines)
    if problems:
        raise ConfigError(problems)
    return plan


def load_plan(path: Path) -> PatrolPlan:
    """Read and validate a patrol file; raises ConfigError with every FILE:LINE problem."""
    data, lines = load_yaml(path)
    return plan_from_data(data, lines)
