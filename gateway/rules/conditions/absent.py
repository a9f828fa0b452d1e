"""`absent`: no reading (of the match metric, or of anything) for `after`, default the kind's heartbeat."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from gateway.core.model import Value
from gateway.core.validation import Duration
from gateway.rules.conditions.base import ANY_METRIC, ConditionSpec, Evaluator, Track

if TYPE_CHECKING:
    from gateway.rules.schema import Rule

# After a restart, a heartbeat that ran out while the gateway was down waits this long (at most
# the heartbeat itself) for the broker's backlog before calling the device silent.
RESTORE_GRACE = timedelta(minutes=5)


class AbsentCondition(ConditionSpec):
    """No reading (of the match metric, or of anything) for `after`, default the kind's heartbeat."""

    type: Literal["absent"]
    after: Duration | None = None

    def shown_threshold(self) -> Any:
        return self.after

    def evaluator(self, rule: Rule) -> Evaluator:
        return AbsentEval(frozenset(rule.match.metric or (ANY_METRIC,)), self.after)


class AbsentEval(Evaluator):
    needs_heartbeat = True

    def __init__(self, metrics: frozenset[str], after: timedelta | None) -> None:
        self.metrics = metrics
        self._after = after

    def period(self, heartbeat: timedelta | None) -> timedelta | None:
        return self._after or heartbeat

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        if t.last_seen is None or now >= t.last_seen:
            t.last_seen = now
        t.value, t.metric = value, metric
        t.active = False
        t.restored_at = None

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        due = self._due(t, heartbeat)
        if due is not None and now >= due:
            t.active = True

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        return None if t.active else self._due(t, heartbeat)

    def restored(self, t: Track, now: datetime) -> None:
        # The grace is worked out when the deadline is: the device's kind (its heartbeat) may be
        # given to the engine only after its state.
        if not t.active:
            t.restored_at = now

    def _due(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        period = self.period(heartbeat)
        if period is None or t.last_seen is None:
            return None  # this kind has no heartbeat: it is not watched
        due = t.last_seen + period
        if t.restored_at is not None and due < t.restored_at:  # it ran out while the gateway was down
            due = t.restored_at + min(period, RESTORE_GRACE)
        return due
