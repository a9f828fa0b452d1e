"""What the rules engine says holds for a device right now (its live conditions, for device health):
firing or pending, with the values behind each, and only the devices whose conditions changed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from gateway.core.model import Availability, DeviceInfo, LiveCondition, Reading, Value
from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.schema import Rule

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 20, 19, 0, tzinfo=CST)  # Shanghai, two hours after sunset
SITE = SiteContext("Asia/Shanghai", 31.23, 121.47, {"lamp": timedelta(minutes=15)})


def rule(rule_id: str, severity: str = "major", **fields: Any) -> Rule:
    data: dict[str, Any] = {"id": rule_id, "labels": {"severity": severity, "category": "test"},
                            "annotations": {"title": "{device}"}}
    data.update(fields)
    return Rule.model_validate(data)


LOW = rule("low", match={"metric": "pressure_mpa"}, condition={"type": "threshold", "below": 1.0},
           clear={"above": 1.1})
LAMP_OUT = rule("lamp_out", "minor", match={"kind": "lamp"}, **{"for": "10m"}, condition={
    "type": "state", "during": {"sun_below": -4},
    "any": [{"metric": "current_a", "below": 0.02}, {"metric": "power_on", "equals": False}]})
SILENT = rule("silent", "minor", match={}, condition={"type": "absent"})
OFFLINE = rule("offline", "minor", match={}, condition={"type": "offline"})
LEAK = rule("leak", "minor", match={"metric": "pressure_mpa"},
            condition={"type": "rate", "window": "6h", "below": -0.01}, clear={"above": -0.002})
BUSY = rule("busy", "warning", match={"metric": "door_open"},
            condition={"type": "count", "becomes": True, "window": "1h", "above": 2})


def read(engine: RuleEngine, device: str, metric: str, value: Value, when: datetime) -> None:
    engine.on_reading(Reading(device, metric, value, None, when), when)


def reasons(engine: RuleEngine, device: str) -> list[tuple[str, bool, str]]:
    return [(c.rule, c.firing, c.reason) for c in engine.conditions(device)]


def test_a_threshold_says_its_value_and_bound_and_while_latched_what_clears_it() -> None:
    engine = RuleEngine([LOW], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 1.2, T0)
    assert engine.conditions("ext-1") == ()
    read(engine, "ext-1", "pressure_mpa", 0.55, T0)
    [held] = engine.conditions("ext-1")
    assert held == LiveCondition(rule="low", severity="major", firing=True, reason="pressure_mpa 0.55 MPa < 1 MPa",
                                 since=T0, metric="pressure_mpa")
    read(engine, "ext-1", "pressure_mpa", 1.05, T0 + timedelta(hours=1))
    assert reasons(engine, "ext-1") == [("low", True, "pressure_mpa 1.05 MPa, not yet > 1.1 MPa")]
    read(engine, "ext-1", "pressure_mpa", 1.2, T0 + timedelta(hours=2))
    assert engine.conditions("ext-1") == ()


def test_a_state_condition_names_the_comparisons_that_hold_and_is_pending_within_its_for() -> None:
    engine = RuleEngine([LAMP_OUT], site=SITE)
    engine.set_devices({"lamp-1": DeviceInfo("lamp-1", kind="lamp")})
    read(engine, "lamp-1", "power_on", False, T0)
    read(engine, "lamp-1", "current_a", 0.0, T0)
    assert reasons(engine, "lamp-1") == [("lamp_out", False, "current_a 0 A < 0.02 A; power_on = false")]
    engine.tick(T0 + timedelta(minutes=10))
    assert reasons(engine, "lamp-1") == [("lamp_out", True, "current_a 0 A < 0.02 A; power_on = false")]
    read(engine, "lamp-1", "power_on", True, T0 + timedelta(minutes=11))  # relay on, still no current
    assert reasons(engine, "lamp-1") == [("lamp_out", True, "current_a 0 A < 0.02 A")]


def test_silence_and_offline_are_conditions_of_contact() -> None:
    engine = RuleEngine([SILENT, OFFLINE], site=SITE)
    engine.set_devices({"lamp-1": DeviceInfo("lamp-1", kind="lamp"), "det-1": DeviceInfo("det-1")})
    engine.on_availability(Availability("det-1", True, T0), T0)
    engine.on_availability(Availability("det-1", False, T0), T0 + timedelta(minutes=1))
    engine.tick(T0 + timedelta(minutes=16))  # the lamp's heartbeat is 15 minutes
    [silent] = engine.conditions("lamp-1")
    assert (silent.rule, silent.firing, silent.contact, silent.reason) == (
        "silent", True, True, "no sign of life for more than 15m")
    [offline] = engine.conditions("det-1")
    assert (offline.rule, offline.contact, offline.reason) == ("offline", True, "its availability says offline")


def test_a_rate_and_a_count_say_their_figures() -> None:
    engine = RuleEngine([LEAK, BUSY], site=SITE)
    for n in range(13):  # 0.05 MPa an hour down, every half hour for six hours
        read(engine, "ext-1", "pressure_mpa", round(1.3 - 0.025 * n, 3), T0 + timedelta(minutes=30 * n))
    assert reasons(engine, "ext-1") == [("leak", True, "pressure_mpa trend -0.05 MPa/h < -0.01 MPa/h")]
    for minute in range(3):
        read(engine, "door-1", "door_open", False, T0 + timedelta(minutes=2 * minute))
        read(engine, "door-1", "door_open", True, T0 + timedelta(minutes=2 * minute + 1))
    assert reasons(engine, "door-1") == [("busy", True, "door_open became true 3 times in 1h, > 2")]


def test_only_devices_whose_conditions_changed_are_reported_and_a_cleared_one_with_none() -> None:
    engine = RuleEngine([LOW], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 1.2, T0)
    read(engine, "ext-2", "pressure_mpa", 0.8, T0)
    assert engine.live_changes() == {"ext-2": engine.conditions("ext-2")}
    assert engine.live_changes() == {}
    read(engine, "ext-1", "pressure_mpa", 1.25, T0 + timedelta(minutes=1))  # healthy, stays healthy
    assert engine.live_changes() == {}
    read(engine, "ext-2", "pressure_mpa", 0.7, T0 + timedelta(minutes=1))  # still low: its figure moved
    assert engine.live_changes()["ext-2"][0].reason == "pressure_mpa 0.7 MPa < 1 MPa"
    read(engine, "ext-2", "pressure_mpa", 1.2, T0 + timedelta(minutes=2))
    assert engine.live_changes() == {"ext-2": ()}


def test_a_rule_removed_while_it_fires_leaves_the_device_without_that_condition() -> None:
    engine = RuleEngine([LOW], site=SITE)
    read(engine, "ext-2", "pressure_mpa", 0.8, T0)
    engine.live_changes()
    engine.replace_rules([])
    assert engine.live_changes() == {"ext-2": ()}
