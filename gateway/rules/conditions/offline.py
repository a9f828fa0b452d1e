"""`offline`: the device's availability signal (LWT, availability or status topic) says offline."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from gateway.rules.conditions.base import ConditionSpec, Evaluator, Track

if TYPE_CHECKING:
    from gateway.rules.schema import Rule


class OfflineCondition(ConditionSpec):
    """The device's availability signal (LWT, availability topic) says offline."""

    type: Literal["offline"]

    def evaluator(self, rule: Rule) -> Evaluator:
        return OfflineEval()


class OfflineEval(Evaluator):
    availability = True

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        t.active = not online
        t.value, t.metric = online, "online"
