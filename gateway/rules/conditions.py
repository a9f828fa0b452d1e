"""One evaluator per condition type, and the schedules (`during`) they may depend on.

An evaluator turns inputs into one boolean signal per (rule, device), kept in a Track: `active`
is true while the condition holds (with hysteresis where the rule has `clear`). The engine turns
that signal into pending -> firing -> cleared using the rule's `for`. Evaluators are pure: time
arrives as the `now` argument and nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from gateway.core.model import Value
from gateway.rules.schema import (
    AbsentCondition,
    Bounds,
    CountCondition,
    During,
    OfflineCondition,
    RateCondition,
    Rule,
    StateCondition,
    ThresholdCondition,
    _same,
)
from gateway.rules.sun import SunCalendar

ANY_METRIC = "*"
# After a restart, a heartbeat that ran out while the gateway was down waits this long (at most
# the heartbeat itself) for the broker's backlog before calling the device silent.
RESTORE_GRACE = timedelta(minutes=5)
# A rate window keeps about this many samples however fast a device reports.
RATE_SAMPLES = 128


@dataclass(slots=True)
class Track:
    """The state of one rule for one device."""

    active: bool = False  # the condition signal
    since: datetime | None = None  # when the signal became true
    firing: bool = False
    fired_at: datetime | None = None
    value: Value | None = None  # what {value} shows
    metric: str | None = None  # what {metric} shows
    last: Value | None = None  # the previous value or online state (edge detection)
    last_seen: datetime | None = None  # absent: the last sign of life
    grace_until: datetime | None = None  # absent: not silent before this (after a restart)
    events: deque[datetime] = field(default_factory=deque)  # count: event times in the window
    samples: deque[tuple[float, float]] = field(default_factory=deque)  # rate: (epoch s, value)
    timer_due: datetime | None = None  # the engine's single live timer for this track


class Schedule:
    """When a `during` applies; remembers its current span so readings cost one comparison."""

    def __init__(self, during: During, tz: tzinfo, latitude: float, longitude: float) -> None:
        self._during = during
        self._tz = tz
        self._sun: SunCalendar | None = None
        self._span: tuple[int, int] | None = None
        self._invert = False
        if during.sun_below is not None:
            self._sun = SunCalendar(latitude, longitude, during.sun_below)
        elif during.sun_above is not None:
            self._sun = SunCalendar(latitude, longitude, during.sun_above)
            self._invert = True
        else:
            text = (during.hours or during.outside_hours or "").replace(" ", "")
            start, end = text.split("-")
            self._span = (_minutes(start), _minutes(end))
            self._invert = during.outside_hours is not None
        self._valid: tuple[datetime, datetime, bool] | None = None

    def is_on(self, now: datetime) -> bool:
        if self._valid is not None and self._valid[0] <= now < self._valid[1]:
            return self._valid[2]
        state = self._compute(now)
        self._valid = (now, self.next_change(now), state)
        return state

    def _compute(self, now: datetime) -> bool:
        if self._sun is not None:
            return self._sun.is_below(now) != self._invert
        assert self._span is not None
        local = now.astimezone(self._tz)
        minute = local.hour * 60 + local.minute
        start, end = self._span
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if start == end:
            inside = True
        return inside != self._invert

    def next_change(self, now: datetime) -> datetime:
        """The first time after `now` when is_on may change."""
        if self._sun is not None:
            return self._sun.next_change(now)
        assert self._span is not None
        today = now.astimezone(self._tz).date()
        candidates = [_at(today + timedelta(days=d), m, self._tz) for d in (0, 1) for m in self._span]
        return min(c for c in candidates if c > now)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _at(day: date, minute: int, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz) + timedelta(minutes=minute)


class Evaluator:
    """Base: which inputs feed the signal. Subclasses override what they use."""

    metrics: frozenset[str] = frozenset()  # readings of these metrics (ANY_METRIC: all)
    availability = False  # listens to online/offline
    needs_heartbeat = False
    schedule: Schedule | None = None  # rule-level `during`: re-evaluate every track at its boundaries

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        pass

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        pass

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        """Re-evaluate because time passed (a timer or a schedule boundary)."""

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        """When `at` must next run for this track, if time alone can change the signal."""
        return None


def _latch(t: Track, cond: Bounds, clear: Bounds | None, value: Value) -> None:
    """Hysteresis: once active, stay active until `clear` holds (or, without clear, until cond fails)."""
    if t.active and clear is not None:
        result = clear.test(value)
        if result is not None:
            t.active = not result
        return
    result = cond.test(value)
    if result is not None:
        t.active = result


class ThresholdEval(Evaluator):
    def __init__(self, rule: Rule, cond: ThresholdCondition, schedule: Schedule | None) -> None:
        self.metrics = frozenset(rule.match.metric or ())
        self._cond = cond
        self._clear = rule.clear
        self.schedule = schedule

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        t.value, t.metric = value, metric
        self._eval(t, now)

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        self._eval(t, now)

    def _eval(self, t: Track, now: datetime) -> None:
        if self.schedule is not None and not self.schedule.is_on(now):
            t.active = False
        elif t.value is not None:
            _latch(t, self._cond, self._clear, t.value)


class StateEval(Evaluator):
    def __init__(self, rule: Rule, cond: StateCondition, schedule: Schedule | None) -> None:
        self._terms = [(term.metric or rule.metric or "", term) for term in cond.terms]
        self.metrics = frozenset(m for m, _ in self._terms)
        self._all = cond.all is not None
        self.schedule = schedule

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        self._eval(t, now, latest)

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        self._eval(t, now, latest)

    def _eval(self, t: Track, now: datetime, latest: Mapping[str, Value]) -> None:
        first_metric = self._terms[0][0]
        t.metric, t.value = first_metric, latest.get(first_metric)
        if self.schedule is not None and not self.schedule.is_on(now):
            t.active = False
            return
        hits = 0
        for metric, term in self._terms:
            value = latest.get(metric)
            if value is not None and term.test(value) is True:
                if not hits and not self._all:
                    t.metric, t.value = metric, value  # show the reason, not just the first term
                hits += 1
        t.active = hits == len(self._terms) if self._all else hits > 0


class AbsentEval(Evaluator):
    needs_heartbeat = True

    def __init__(self, rule: Rule, cond: AbsentCondition) -> None:
        self.metrics = frozenset(rule.match.metric or (ANY_METRIC,))
        self._after = cond.after

    def period(self, heartbeat: timedelta | None) -> timedelta | None:
        return self._after or heartbeat

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        if t.last_seen is None or now >= t.last_seen:
            t.last_seen = now
        t.value, t.metric = value, metric
        t.active = False
        t.grace_until = None

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        due = self._due(t, heartbeat)
        if due is not None and now >= due:
            t.active = True

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        return None if t.active else self._due(t, heartbeat)

    def _due(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        period = self.period(heartbeat)
        if period is None or t.last_seen is None:
            return None  # this kind has no heartbeat: it is not watched
        due = t.last_seen + period
        return max(due, t.grace_until) if t.grace_until is not None else due


class OfflineEval(Evaluator):
    availability = True

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        t.active = not online
        t.value, t.metric = online, "online"


class CountEval(Evaluator):
    def __init__(self, rule: Rule, cond: CountCondition) -> None:
        self._cond = cond
        self._clear = rule.clear
        self.availability = cond.availability_changes
        self.metrics = frozenset(rule.match.metric or ()) if cond.becomes is not None else frozenset()

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        becomes = self._cond.becomes
        if becomes is not None and t.last is not None and not _same(value, t.last) and _same(value, becomes):
            t.events.append(now)
        t.last = value
        t.metric = metric
        self._eval(t, now)

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        if t.last is not None and t.last != online:
            t.events.append(now)
        t.last = online
        t.metric = "online"
        self._eval(t, now)

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        self._eval(t, now)

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        return t.events[0] + self._cond.window if t.events else None

    def _eval(self, t: Track, now: datetime) -> None:
        horizon = now - self._cond.window
        while t.events and t.events[0] <= horizon:
            t.events.popleft()
        t.value = len(t.events)
        _latch(t, self._cond, self._clear, len(t.events))


class RateEval(Evaluator):
    def __init__(self, rule: Rule, cond: RateCondition) -> None:
        self.metrics = frozenset(rule.match.metric or ())
        self._cond = cond
        self._clear = rule.clear
        self._window = cond.window.total_seconds()
        self._step = self._window / RATE_SAMPLES

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        x = now.timestamp()
        s = t.samples
        if s and x < s[-1][0]:
            return  # out of order: a slope needs time to move forward
        if len(s) >= 2 and x - s[-2][0] < self._step:
            s[-1] = (x, float(value))  # keep the newest, but no denser than the window needs
        else:
            s.append((x, float(value)))
        while s and s[0][0] <= x - self._window:
            s.popleft()
        t.metric = metric
        if len(s) < self._cond.min_samples or s[-1][0] - s[0][0] < self._window / 2:
            return  # not enough history to call it a trend
        rate = _slope(s) * self._cond.per.total_seconds()
        t.value = round(rate, 6)
        _latch(t, self._cond, self._clear, rate)


def _slope(samples: deque[tuple[float, float]]) -> float:
    """Least-squares slope in units per second (robust to one noisy reading, unlike first-to-last)."""
    n = len(samples)
    x0 = samples[0][0]
    mean_x = sum(x - x0 for x, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    sxx = sum((x - x0 - mean_x) ** 2 for x, _ in samples)
    if sxx == 0:
        return 0.0
    return sum((x - x0 - mean_x) * (y - mean_y) for x, y in samples) / sxx


def make_evaluator(rule: Rule, tz: tzinfo, latitude: float, longitude: float) -> Evaluator:
    cond: Any = rule.condition
    schedule = Schedule(cond.during, tz, latitude, longitude) if getattr(cond, "during", None) else None
    if isinstance(cond, ThresholdCondition):
        return ThresholdEval(rule, cond, schedule)
    if isinstance(cond, StateCondition):
        return StateEval(rule, cond, schedule)
    if isinstance(cond, AbsentCondition):
        return AbsentEval(rule, cond)
    if isinstance(cond, OfflineCondition):
        return OfflineEval()
    if isinstance(cond, CountCondition):
        return CountEval(rule, cond)
    if isinstance(cond, RateCondition):
        return RateEval(rule, cond)
    raise TypeError(f"no evaluator for condition {cond!r}")

