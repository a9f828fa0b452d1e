"""`offline`: the device's availability signal (LWT, availability or status topic) says offline.

It holds until the device says online or shows any other sign of life (a reading, a tap): a device
that sends data is there, whatever it said before. The registry's `online` means the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from gateway.core.model import Value
from gateway.rules.conditions.base import ANY_METRIC, ConditionSpec, Evaluator, Track

if TYPE_CHECKING:
    from gateway.rules.schema import Rule


class OfflineCondition(ConditionSpec):
    """The device's availability signal (LWT, availability topic) says offline."""

    type: Literal["offline"]

    def evaluator(self, rule: Rule) -> Evaluator:
        return OfflineEval()


class OfflineEval(Evaluator):
    metrics = frozenset({ANY_METRIC})
    availability = True
    taps = True
    traffic_starts_track = False  # traffic only ends an offline that availability started
    contact = True

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        t.active = not online
        t.value, t.metric = online, "online"

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        self._heard(t)

    def settled_reading(self, t: Track, metric: str, value: Value, now: datetime) -> bool:
        return not (t.active or t.firing)  # traffic only ends an offline; none to end

    def on_tap(self, t: Track, now: datetime) -> None:
        self._heard(t)

    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        return "its availability says offline"

    @staticmethod
    def _heard(t: Track) -> None:
        if t.active:
            t.active = False
            t.value, t.metric = True, "online"
