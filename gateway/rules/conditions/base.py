"""What every condition kind is made of: its YAML model, its evaluator, and the Track it keeps per device.

An evaluator turns inputs into one boolean signal per (rule, device), kept in a Track: `active`
is true while the condition holds (with hysteresis where the rule has `clear`). The engine turns
that signal into pending -> firing -> cleared using the rule's `for`. Evaluators are pure: time
arrives as the `now` argument and nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.core.model import Value
from gateway.core.validation import Strict
from gateway.rules.compare import Bounds, NeedsBound, check_hysteresis, show

if TYPE_CHECKING:
    from gateway.rules.conditions.window import During, Schedule
    from gateway.rules.schema import Rule

ANY_METRIC = "*"


@dataclass(slots=True)
class Track:
    """The state of one rule for one device."""

    active: bool = False  # the condition signal
    since: datetime | None = None  # when the signal became true
    firing: bool = False
    fired_at: datetime | None = None
    value: Value | None = None  # what {value} shows
    metric: str | None = None  # what {metric} shows
    last: Value | None = None  # the previous value or online state (count: edges; silence: online holds it off)
    last_seen: datetime | None = None  # absent: when the device was last known alive
    restored_at: datetime | None = None  # absent: the restart that may owe the device a grace period
    # Only count and rate rules keep these, so they are made on first use: an empty deque costs
    # ~760 bytes, and with 100,000 devices there are half a million tracks that never need one.
    events: deque[datetime] | None = None  # count: event times in the window
    samples: deque[tuple[float, float]] | None = None  # rate: (epoch s, value)
    timer_due: datetime | None = None  # the engine's single live timer for this track

    def event_times(self) -> deque[datetime]:
        """`events`, made on first use."""
        if self.events is None:
            self.events = deque()
        return self.events

    def sample_list(self) -> deque[tuple[float, float]]:
        """`samples`, made on first use."""
        if self.samples is None:
            self.samples = deque()
        return self.samples


class Evaluator:
    """Base: which inputs feed the signal. Subclasses override what they use."""

    metrics: frozenset[str] = frozenset()  # readings of these metrics (ANY_METRIC: all)
    availability = False  # listens to online/offline
    taps = False  # listens to taps (a reader's only sign of life besides its availability)
    traffic_starts_track = True  # False: a reading or tap only matters to a device already tracked
    needs_heartbeat = False  # watches silence: gets the kind's heartbeat, and devices never heard
    contact = False  # the signal is the device's silence or offline status (its health is "offline")
    uses_latest = False  # reads the device's latest value of each of its metrics
    schedule: Schedule | None = None  # rule-level `during`: re-evaluate every track at its boundaries

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        pass

    def settled_reading(self, t: Track, metric: str, value: Value, now: datetime) -> bool:
        """When a reading cannot move the signal (the rules of a device's signs of life, fed each of a
        message's readings): record what it shows, answer True, and the engine skips the rest of the
        evaluation (reading, settle, schedule), whose outcome would be this track unchanged. False: a
        full evaluation. Only an evaluator that overrides it is asked (RuleEngine.on_reading)."""
        return False

    def on_availability(self, t: Track, online: bool, now: datetime) -> None:
        pass

    def on_tap(self, t: Track, now: datetime) -> None:
        pass

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        """Re-evaluate because time passed (a timer or a schedule boundary)."""

    def deadline(self, t: Track, heartbeat: timedelta | None) -> datetime | None:
        """When `at` must next run for this track, if time alone can change the signal."""
        return None

    def restored(self, t: Track, now: datetime) -> None:
        """The track was just taken back from a snapshot after a restart at `now`."""

    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        """Why the signal holds, with the values behind it ("current_a 0.003 A < 0.02 A"), for the
        device's health; "" when there is nothing to show (a firing alert held outside its window)."""
        return "" if t.metric is None or t.value is None else f"{t.metric} = {show(t.value)}"


class ConditionSpec(Strict):
    """A condition kind as written in a rule file: its fields, plus what the engine needs to know.

    A kind subclasses this with `type: Literal["name"]` and its own fields, says whether it takes
    `clear:`, checks what it needs from the rule, and builds its evaluator. It is registered in
    gateway/rules/conditions/__init__.py; nothing else names it.
    """

    type: str
    clearable: ClassVar[bool] = False  # takes `clear:` (hysteresis); then check_clear says how

    def check(self, rule: Rule) -> None:
        """Raise ValueError if the rule around this condition lacks something it needs."""

    def check_clear(self, clear: Bounds) -> None:
        """Raise ValueError if `clear` cannot work with this condition (clearable kinds only)."""

    def applies_during(self) -> During | None:
        """The part of the day this condition applies to (`during`), if it has one."""
        return None

    def shown_threshold(self) -> Any:
        """What {threshold} shows in the annotations."""
        return None

    def evaluator(self, rule: Rule) -> Evaluator:
        raise NotImplementedError(f"condition kind {self.type} has no evaluator")


class ClearableCondition(NeedsBound, ConditionSpec):
    """A condition that is a comparison of one number, so `clear:` beside it adds hysteresis."""

    clearable = True

    def check_clear(self, clear: Bounds) -> None:
        check_hysteresis(self, clear)

    def shown_threshold(self) -> Any:
        return self.threshold()


def latch(t: Track, cond: Bounds, clear: Bounds | None, value: Value) -> None:
    """Hysteresis: once active, stay active until `clear` holds (or, without clear, until cond fails)."""
    if t.active and clear is not None:
        result = clear.test(value)
        if result is not None:
            t.active = not result
        return
    result = cond.test(value)
    if result is not None:
        t.active = result


def explain_latched(cond: Bounds, clear: Bounds | None, metric: str, value: Value, unit: str | None) -> str:
    """Why a comparison with hysteresis holds: the value against the condition, or, inside the band
    between the condition and `clear`, what it still waits for ("pressure_mpa 1.05 MPa, not yet > 1.1 MPa")."""
    if cond.test(value) is True:
        return cond.explain(metric, value, unit)
    if clear is not None:
        return f"{metric} {show(value)}{f' {unit}' if unit else ''}, not yet {clear.describe(unit)}"
    return ""
