"""`during`: a condition that applies only during part of the day, by the clock or by the sky.

Any condition kind that subclasses TimeWindow takes it: the registry wraps
its evaluator in Windowed, and the engine re-evaluates every device of the rule at each boundary.
Outside the window the condition is not evaluated, so an alert keeps its state (see Windowed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo

from pydantic import Field, model_validator

from gateway.core.model import Value
from gateway.core.validation import Strict
from gateway.rules.conditions.base import ConditionSpec, Evaluator, Track
from gateway.rules.sun import SunCalendar

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


class During(Strict):
    """When a schedule-aware condition applies, in the site's time zone and sky."""

    sun_below: float | None = Field(None, ge=-18, le=10)  # dark: sun below this elevation (degrees)
    sun_above: float | None = Field(None, ge=-18, le=60)  # daylight: sun above this elevation
    hours: str | None = None  # "18:00-06:00", may wrap past midnight
    outside_hours: str | None = None  # "07:00-22:00": applies outside these hours

    @model_validator(mode="after")
    def _exactly_one(self) -> During:
        given = [k for k in ("sun_below", "sun_above", "hours", "outside_hours") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of sun_below, sun_above, hours, outside_hours")
        for span in (self.hours, self.outside_hours):
            if span is not None and not _HOURS.match(span.replace(" ", "")):
                raise ValueError(f"{span!r} is not a span of hours; write it like 18:00-06:00")
        return self


class TimeWindow(ConditionSpec):
    """A condition kind that takes an optional `during` (mix it in before other bases)."""

    during: During | None = None

    def applies_during(self) -> During | None:
        return self.during


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


class Windowed(Evaluator):
    """Any evaluator, limited to its schedule. Dawn is not a repair: outside the window an alert keeps
    its state (a pending one is dropped, since it never fired), and only a reading inside the window
    can clear it. At a boundary the values are those read before it: they may raise an alert (a lamp
    already off at dusk) but never clear one (a lamp seen lit in the day may still be dark at night).
    """

    def __init__(self, inner: Evaluator, schedule: Schedule) -> None:
        self.inner = inner
        self.schedule = self._schedule = schedule
        self.metrics = inner.metrics
        self.availability = inner.availability
        self.taps = inner.taps
        self.needs_heartbeat = inner.needs_heartbeat
        self.uses_latest = inner.uses_latest
        self.contact = inner.contact

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        self.inner.reading(t, metric, value, now, latest)
        if not self._schedule.is_on(now):
            _hold(t)

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        self.inner.on_availability(t, online, now)
        if not self._schedule.is_on(now):
            _hold(t)

    def on_tap(self, t: Track, now: datetime) -> None:
        self.inner.on_tap(t, now)
        if not self._schedule.is_on(now):
            _hold(t)

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        self.inner.at(t, now, latest, heartbeat)
        if t.firing or not self._schedule.is_on(now):
            _hold(t)

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        return self.inner.deadline(t, heartbeat)

    def restored(self, t: Track, now: datetime) -> None:
        self.inner.restored(t, now)

    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        return self.inner.explain(t, latest, heartbeat)


def _hold(t: Track) -> None:
    """The condition is not evaluated now: a firing alert stays firing, nothing new starts."""
    t.active = t.firing
