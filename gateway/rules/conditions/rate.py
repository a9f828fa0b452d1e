"""`rate`: the least-squares slope of the metric over a window, in units per `per` (a slow leak)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from gateway.core.model import Value
from gateway.core.validation import Duration, format_duration
from gateway.rules.compare import Bounds, unit_of
from gateway.rules.conditions.base import ClearableCondition, Evaluator, Track, explain_latched, latch

if TYPE_CHECKING:
    from gateway.rules.schema import Rule

# A rate window keeps about this many samples however fast a device reports.
RATE_SAMPLES = 128


class RateCondition(ClearableCondition):
    """Slope of the metric over `window` (least squares), in units per `per` (default 1 h)."""

    type: Literal["rate"]
    window: Duration
    per: Duration = timedelta(hours=1)
    min_samples: int = Field(3, ge=2)

    def check(self, rule: Rule) -> None:
        if rule.metric is None:
            raise ValueError("a rate rule needs exactly one `match.metric`")

    def evaluator(self, rule: Rule) -> Evaluator:
        return RateEval(frozenset(rule.match.metric or ()), self, rule.clear)


class RateEval(Evaluator):
    def __init__(self, metrics: frozenset[str], cond: RateCondition, clear: Bounds | None) -> None:
        self.metrics = metrics
        self._cond = cond
        self._clear = clear
        self._window = cond.window.total_seconds()
        self._step = self._window / RATE_SAMPLES

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        x = now.timestamp()
        s = t.sample_list()
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
        latch(t, self._cond, self._clear, rate)


    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        if t.metric is None or t.value is None:
            return ""
        per = self._cond.per
        span = "h" if per == timedelta(hours=1) else format_duration(per)
        unit = f"{unit_of(t.metric) or ''}/{span}"
        return explain_latched(self._cond, self._clear, f"{t.metric} trend", t.value, unit)


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
