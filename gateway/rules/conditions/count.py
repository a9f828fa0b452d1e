"""`count`: events in a sliding window, the metric becoming a value (a door opening) or online/offline changes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import model_validator

from gateway.core.model import Value
from gateway.core.validation import Duration, format_duration
from gateway.rules.compare import Bounds, Scalar, same, show
from gateway.rules.conditions.base import ClearableCondition, Evaluator, Track, latch

if TYPE_CHECKING:
    from gateway.rules.schema import Rule


class CountCondition(ClearableCondition):
    """Events in a sliding window: the metric becoming a value, or online/offline changes."""

    type: Literal["count"]
    window: Duration
    becomes: Scalar | None = None
    availability_changes: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> CountCondition:
        if (self.becomes is None) == (not self.availability_changes):
            raise ValueError("count either `becomes: VALUE` of the metric or `availability_changes: true`")
        return self

    def check(self, rule: Rule) -> None:
        if self.becomes is not None and rule.metric is None:
            raise ValueError("a count rule needs exactly one `match.metric`")

    def evaluator(self, rule: Rule) -> Evaluator:
        return CountEval(frozenset(rule.match.metric or ()) if self.becomes is not None else frozenset(),
                         self, rule.clear)


class CountEval(Evaluator):
    def __init__(self, metrics: frozenset[str], cond: CountCondition, clear: Bounds | None) -> None:
        self._cond = cond
        self._clear = clear
        self.availability = cond.availability_changes
        self.metrics = metrics

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        becomes = self._cond.becomes
        if becomes is not None and t.last is not None and not same(value, t.last) and same(value, becomes):
            t.event_times().append(now)
        t.last = value
        t.metric = metric
        self._eval(t, now)

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        if t.last is not None and t.last != online:
            t.event_times().append(now)
        t.last = online
        t.metric = "online"
        self._eval(t, now)

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        self._eval(t, now)

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        return t.events[0] + self._cond.window if t.events else None

    def _eval(self, t: Track, now: datetime) -> None:
        horizon = now - self._cond.window
        events = t.events
        while events and events[0] <= horizon:
            events.popleft()
        t.value = len(events) if events is not None else 0
        latch(t, self._cond, self._clear, t.value)

    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        becomes = self._cond.becomes
        what = f"{t.metric} became {show(becomes)}" if becomes is not None else "online/offline changed"
        count = f"{what} {t.value} times in {format_duration(self._cond.window)}"
        if self._cond.test(len(t.events or ())) is True:
            return f"{count}, {self._cond.describe()}"
        return f"{count}, not yet {self._clear.describe()}" if self._clear is not None else count
