"""A device's health: its band, the reasons for it, and a 0..1 figure that stays inside the band.

The band comes from the device's live condition, never from its tickets (a ticket may not be open
yet, may be muted by maintenance, or may wait for a person after the device recovered):

- offline:  it is offline (its availability says so, or it was silent past its kind's heartbeat), or
            a rule that watches contact fires (`health.silent` on a device never heard);
- faulty:   a rule's condition has held past its `for` and fires, severity minor or worse;
- degraded: a rule's condition holds but is still within its `for` (pending), a warning fires, or
            the device reports a low battery or a weak radio link;
- good:     none of these.

The figure starts at 1 and loses points for each reason (and up to 0.3 as data gets stale past half
the heartbeat, which never changes the band: a device may stay silent a whole heartbeat), then is
held inside its band's range, so 0.8 and above is always good and 0 always offline. Documented in
the README ("Health score"): managers read it on the Devices page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway.core.model import LiveCondition, Value
from gateway.core.validation import format_duration

if TYPE_CHECKING:
    from gateway.ingest.registry import DeviceState, MetricValue

BANDS = ("offline", "faulty", "degraded", "good")  # worst first
RANGE = {"good": (0.8, 1.0), "degraded": (0.5, 0.75), "faulty": (0.1, 0.45), "offline": (0.0, 0.0)}
FIRING_PENALTY = {"critical": 0.6, "major": 0.4, "minor": 0.3, "warning": 0.1}
PENDING_PENALTY = 0.1
LOW_BATTERY_PCT = 20
# Below this a radio link is weak: Zigbee linkquality is 0..255; Tasmota reports Wi-Fi RSSI in %.
WEAK_SIGNAL = 30


_NOTHING: frozenset[str] = frozenset()
_BATTERY = frozenset({"battery_pct", "battery_low"})


@dataclass(frozen=True, slots=True)
class Health:
    score: float
    band: str
    reasons: tuple[str, ...]  # worst first
    # The same as data, worst first, for a page that words them in its reader's language:
    # {"kind": "rule", "rule", "severity", "firing", "title", "metric"} | {"kind": "offline", "source"}
    # | {"kind": "battery", "metric"} | {"kind": "signal", "value"}
    causes: tuple[dict[str, Any], ...] = field(default=(), compare=False)  # the reasons say the same


_GOOD_LOW, _GOOD_HIGH = RANGE["good"]
_GOOD = Health(1.0, "good", ())  # immutable: one for every device with nothing to say


def assess(state: DeviceState, now: datetime, heartbeat: timedelta,
           conditions: Sequence[LiveCondition]) -> Health:
    """The health of `state` at `now`, given the conditions the rules say hold for it."""
    found: list[tuple[str, float, str, dict[str, Any]]] = []  # (band, points off, reason, cause)
    if state.online is False:
        found.append(("offline", 1.0, _offline(state, heartbeat), {"kind": "offline", "source": state.online_source}))
    for c in conditions:
        if c.contact and state.online is False:
            continue  # the registry already says so, with why
        found.append((_band(c), FIRING_PENALTY.get(c.severity, 0.1) if c.firing else PENDING_PENALTY,
                      f"{c.reason} ({c.rule}, {c.severity}, {'firing' if c.firing else 'pending'})",
                      {"kind": "rule", "rule": c.rule, "severity": c.severity, "firing": c.firing,
                       "title": c.title, "metric": c.metric}))
    # The device's own word on its battery and radio, unless a rule already says it (fire.battery_low).
    watched = {c.metric for c in conditions} if conditions else _NOTHING
    if not watched & _BATTERY and (battery := _low_battery(state.metrics)):
        metric = "battery_low" if battery.startswith("battery_low") else "battery_pct"
        found.append(("degraded", 0.3, f"{battery} (low battery)", {"kind": "battery", "metric": metric}))
    signal = state.metrics.get("signal")
    strength = _number(signal.value) if signal is not None and "signal" not in watched else None
    if signal is not None and strength is not None and 0 <= strength < WEAK_SIGNAL:
        found.append(("degraded", 0.1, f"signal {_show(signal)} < {WEAK_SIGNAL} (weak radio link)",
                      {"kind": "signal", "value": strength, "below": WEAK_SIGNAL}))
    if not found:  # most devices, every site minute (equipment_health): the same figure, less work
        stale = _staleness(state, now, heartbeat)
        return _GOOD if stale == 0.0 else Health(round(max(_GOOD_LOW, min(_GOOD_HIGH, 1.0 - stale)), 3), "good", ())
    band = min((f[0] for f in found), key=BANDS.index, default="good")
    low, high = RANGE[band]
    score = 1.0 - _staleness(state, now, heartbeat) - sum(f[1] for f in found)
    ordered = sorted(found, key=lambda f: BANDS.index(f[0]))
    return Health(round(max(low, min(high, score)), 3), band, tuple(f[2] for f in ordered),
                  tuple(f[3] for f in ordered))


def _band(c: LiveCondition) -> str:
    if not c.firing:
        return "degraded"
    if c.contact:
        return "offline"
    return "degraded" if c.severity == "warning" else "faulty"


def _offline(state: DeviceState, heartbeat: timedelta) -> str:
    if state.online_source == "availability":
        return "offline (its availability says so)"
    if state.online_source == "silence":
        return f"offline (nothing heard for more than {format_duration(heartbeat)})"
    return "offline"


def _staleness(state: DeviceState, now: datetime, heartbeat: timedelta) -> float:
    # A device whose availability says online is connected: its data is not stale, just quiet.
    if state.last_seen is None or heartbeat <= timedelta(0) or state.online_source == "availability":
        return 0.0
    age = (now - state.last_seen) / heartbeat
    return min(0.3, (age - 0.5) * 0.6) if age > 0.5 else 0.0  # past half its heartbeat: getting stale


def _low_battery(metrics: dict[str, MetricValue]) -> str | None:
    pct, flag = metrics.get("battery_pct"), metrics.get("battery_low")
    if pct is not None and (x := _number(pct.value)) is not None and x < LOW_BATTERY_PCT:
        return f"battery_pct {_show(pct)} < {LOW_BATTERY_PCT}{f' {pct.unit}' if pct.unit else ''}"
    if flag is not None and flag.value is True:
        return "battery_low = true"
    return None


def _number(v: Value) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _show(m: MetricValue) -> str:
    value = f"{m.value:g}" if isinstance(m.value, float) else str(m.value)
    return f"{value} {m.unit}" if m.unit else value
