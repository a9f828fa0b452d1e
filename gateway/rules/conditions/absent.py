"""`absent`: silence. Without a metric, no sign of life for the kind's heartbeat (or `after`); with
one, no reading of that metric for `after` (or the heartbeat).

A sign of life is any reading, a tap, or the device's availability saying online. An online status
holds until the device, or its MQTT will, says offline: the availability signal (the broker's
keepalive, Zigbee2MQTT's ping) is its heartbeat, so a connected reader that only sends taps is not
silent between rounds. It was alive until it said it was gone, so silence counts from then; an
offline status by itself is no sign of life. The registry's `online` (GET /api/devices) means the
same (gateway/ingest/registry.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from gateway.core.model import Value
from gateway.core.validation import Duration, format_duration
from gateway.rules.conditions.base import ANY_METRIC, ConditionSpec, Evaluator, Track

if TYPE_CHECKING:
    from gateway.rules.schema import Rule

# After a restart, a heartbeat that ran out while the gateway was down waits this long (at most
# the heartbeat itself) for the broker's backlog before calling the device silent.
RESTORE_GRACE = timedelta(minutes=5)


class AbsentCondition(ConditionSpec):
    """No sign of life (or no reading of the match metric) for `after`, default the kind's heartbeat."""

    type: Literal["absent"]
    after: Duration | None = None

    def shown_threshold(self) -> Any:
        return self.after

    def evaluator(self, rule: Rule) -> Evaluator:
        if rule.match.metric:
            return AbsentEval(frozenset(rule.match.metric), self.after)
        return SilentEval(self.after)


class AbsentEval(Evaluator):
    """No reading of these metrics for the period."""

    needs_heartbeat = True

    def __init__(self, metrics: frozenset[str], after: timedelta | None) -> None:
        self.metrics = metrics
        self._after = after

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        t.value, t.metric = value, metric
        _alive(t, now)

    def settled_reading(self, t: Track, metric: str, value: Value, now: datetime) -> bool:
        # Seen alive at this instant already (the message's first reading): the evaluation then
        # left it quiet with its timer armed from this same state, and another one would too. Not
        # when it fired since (a late message stamped with that instant clears it).
        if t.last_seen == now and not t.active and t.restored_at is None:
            t.value, t.metric = value, metric
            return True
        return False

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        due = self.deadline(t, heartbeat)
        if due is not None and now >= due:
            t.active = True

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        return None if t.active else self._due(t, heartbeat)

    def restored(self, t: Track, now: datetime) -> None:
        # The grace is worked out when the deadline is: the device's kind (its heartbeat) may be
        # given to the engine only after its state.
        if not t.active:
            t.restored_at = now

    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        return f"no {'/'.join(sorted(self.metrics))} reading for more than {self._period(heartbeat)}"

    def _period(self, heartbeat: timedelta | None) -> str:
        period = self._after or heartbeat
        return format_duration(period) if period is not None else "its heartbeat"

    def _due(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        period = self._after or heartbeat
        if period is None or t.last_seen is None:
            return None  # this kind has no heartbeat: it is not watched
        due = t.last_seen + period
        if t.restored_at is not None and due < t.restored_at:  # it ran out while the gateway was down
            due = t.restored_at + min(period, RESTORE_GRACE)
        return due


class SilentEval(AbsentEval):
    """No sign of life at all: no reading, no tap, and no availability saying online."""

    availability = True
    taps = True
    contact = True

    def __init__(self, after: timedelta | None) -> None:
        super().__init__(frozenset({ANY_METRIC}), after)

    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        return f"no sign of life for more than {self._period(heartbeat)}"

    def on_tap(self, t: Track, now: datetime) -> None:
        _alive(t, now)

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        if online or t.last is True:  # online now, or until now
            _alive(t, now)
        t.last = online

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        return None if t.last is True else super().deadline(t, heartbeat)


def _alive(t: Track, now: datetime) -> None:
    if t.last_seen is None or now >= t.last_seen:
        t.last_seen = now
    t.active = False
    t.restored_at = None
