"""`threshold`: the latest value of the rule's one metric compared to a bound (`clear` adds hysteresis)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from gateway.core.model import Value
from gateway.rules.compare import Bounds, unit_of
from gateway.rules.conditions.base import ClearableCondition, Evaluator, Track, explain_latched, latch
from gateway.rules.conditions.window import TimeWindow

if TYPE_CHECKING:
    from gateway.rules.schema import Rule


class ThresholdCondition(ClearableCondition, TimeWindow):
    """The latest value of the rule's metric compared to a bound (with `clear` for hysteresis)."""

    type: Literal["threshold"]

    def check(self, rule: Rule) -> None:
        if rule.metric is None:
            raise ValueError("a threshold rule needs exactly one `match.metric`")

    def evaluator(self, rule: Rule) -> Evaluator:
        return ThresholdEval(frozenset(rule.match.metric or ()), self, rule.clear)


class ThresholdEval(Evaluator):
    def __init__(self, metrics: frozenset[str], cond: Bounds, clear: Bounds | None) -> None:
        self.metrics = metrics
        self._cond = cond
        self._clear = clear

    @property
    def condition(self) -> Bounds:
        """What makes the signal rise (the engine's threshold index reads it)."""
        return self._cond

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        t.value, t.metric = value, metric
        latch(t, self._cond, self._clear, value)

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        if t.value is not None:
            latch(t, self._cond, self._clear, t.value)

    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        if t.value is None or t.metric is None:
            return ""
        return explain_latched(self._cond, self._clear, t.metric, t.value, unit_of(t.metric))
