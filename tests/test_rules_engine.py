"""The rules engine as a state machine, driven by explicit times (no clock, no sleeping)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.model import AlertEvent, Availability, DeviceInfo, Reading, Value
from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.schema import Rule
from gateway.rules.sun import SunCalendar

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=CST)
SITE = SiteContext("Asia/Shanghai", 31.23, 121.47, {"lamp": timedelta(minutes=15)})


def rule(rule_id: str = "r", **fields: Any) -> Rule:
    data: dict[str, Any] = {"id": rule_id, "labels": {"severity": "major", "category": "test", "team": "fire"},
                            "annotations": {"title": "{device} {metric}={value} (limit {threshold})"}}
    data.update(fields)
    return Rule.model_validate(data)


def low_pressure(**fields: Any) -> Rule:
    base: dict[str, Any] = {"match": {"metric": "pressure_mpa"}, "condition": {"type": "threshold", "below": 1.0},
                            "clear": {"above": 1.1}}
    base.update(fields)
    return rule("low", **base)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def read(engine: RuleEngine, device: str, metric: str, value: Value, when: datetime) -> list[AlertEvent]:
    return engine.on_reading(Reading(device, metric, value, None, when), when)


def states(events: list[AlertEvent]) -> list[tuple[str, str, str]]:
    return [(e.rule, e.device, e.state) for e in events]


# -- threshold and hysteresis ---------------------------------------------------------------

def test_threshold_fires_below_and_clears_only_above_the_clear_bound() -> None:
    engine = RuleEngine([low_pressure()], site=SITE)
    assert read(engine, "ext-1", "pressure_mpa", 1.2, at(0)) == []
    fired = read(engine, "ext-1", "pressure_mpa", 0.8, at(1))
    assert states(fired) == [("low", "ext-1", "firing")]
    assert read(engine, "ext-1", "pressure_mpa", 1.05, at(2)) == []  # in the band: holds
    assert read(engine, "ext-1", "pressure_mpa", 1.1, at(3)) == []  # "above 1.1" is strict
    assert read(engine, "ext-1", "pressure_mpa", 0.95, at(4)) == []  # still the same alert, no repeat
    cleared = read(engine, "ext-1", "pressure_mpa", 1.11, at(5))
    assert states(cleared) == [("low", "ext-1", "cleared")]
    assert cleared[0].ts == at(5)


def test_without_clear_a_threshold_clears_as_soon_as_the_condition_fails() -> None:
    engine = RuleEngine([low_pressure(clear=None)], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 0.9, at(0))
    assert states(read(engine, "ext-1", "pressure_mpa", 1.0, at(1))) == [("low", "ext-1", "cleared")]


def test_boolean_threshold_and_numbers_do_not_mix() -> None:
    smoke = rule("smoke", match={"metric": "smoke"}, condition={"type": "threshold", "equals": True})
    engine = RuleEngine([smoke, low_pressure()], site=SITE)
    assert read(engine, "s1", "smoke", 1, at(0)) == []  # 1 is not true
    assert states(read(engine, "s1", "smoke", True, at(1))) == [("smoke", "s1", "firing")]
    assert read(engine, "x", "pressure_mpa", True, at(1)) == []  # true is not below 1.0
    assert read(engine, "x", "pressure_mpa", "n/a", at(1)) == []


def test_alert_event_carries_rule_labels_device_info_and_rendered_title() -> None:
    engine = RuleEngine([low_pressure(auto_resolve=True)], site=SITE)
    engine.set_devices({"ext-1": DeviceInfo("ext-1", "extinguisher", "b1")})
    (ev,) = read(engine, "ext-1", "pressure_mpa", 0.71, at(0))
    assert (ev.zone, ev.kind, ev.severity, ev.category, ev.value) == ("b1", "extinguisher", "major", "test", 0.71)
    assert ev.title == "ext-1 pressure_mpa=0.71 (limit 1)"
    assert ev.labels["team"] == "fire" and ev.auto_resolve is True
    assert ev.key == "low:ext-1"


def test_unknown_devices_match_rules_by_metric_with_kind_unknown() -> None:
    by_kind = rule("k", match={"kind": "extinguisher", "metric": "pressure_mpa"},
                   condition={"type": "threshold", "below": 1.0})
    engine = RuleEngine([low_pressure(), by_kind], site=SITE)
    events = read(engine, "stranger", "pressure_mpa", 0.5, at(0))
    assert states(events) == [("low", "stranger", "firing")]
    assert events[0].kind == "unknown" and events[0].zone == "unassigned"


def test_match_by_zone_and_device_glob() -> None:
    r = low_pressure(match={"metric": "pressure_mpa", "zone": ["b1"], "device": "ext-*"})
    engine = RuleEngine([r], site=SITE)
    engine.set_devices({"ext-1": DeviceInfo("ext-1", "extinguisher", "b1"),
                        "ext-2": DeviceInfo("ext-2", "extinguisher", "b2"),
                        "hyd-1": DeviceInfo("hyd-1", "hydrant", "b1")})
    fired = [e.device for d in ("ext-1", "ext-2", "hyd-1") for e in read(engine, d, "pressure_mpa", 0.5, at(0))]
    assert fired == ["ext-1"]


# -- for-durations -------------------------------------------------------------------------

def test_for_is_pending_until_exactly_the_duration_then_fires_stamped_on_time() -> None:
    engine = RuleEngine([low_pressure(**{"for": "10m"})], site=SITE)
    assert read(engine, "ext-1", "pressure_mpa", 0.8, at(0)) == []
    assert engine.next_deadline() == at(10)
    assert engine.tick(at(10) - timedelta(microseconds=1)) == []
    fired = engine.tick(at(10))
    assert states(fired) == [("low", "ext-1", "firing")] and fired[0].ts == at(10)
    assert engine.tick(at(20)) == []  # once


def test_a_late_tick_still_stamps_the_firing_with_its_due_time() -> None:
    engine = RuleEngine([low_pressure(**{"for": "10m"})], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 0.8, at(0))
    (ev,) = engine.tick(at(37))
    assert ev.ts == at(10)


def test_a_condition_that_ends_before_for_never_fires() -> None:
    engine = RuleEngine([low_pressure(**{"for": "10m"})], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 0.8, at(0))
    assert read(engine, "ext-1", "pressure_mpa", 1.2, at(9.9)) == []
    assert engine.tick(at(60)) == [] and engine.next_deadline() is None


def test_a_reading_that_clears_exactly_at_the_for_deadline_first_fires_then_clears() -> None:
    engine = RuleEngine([low_pressure(**{"for": "10m"})], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 0.8, at(0))
    events = read(engine, "ext-1", "pressure_mpa", 1.2, at(10))
    assert states(events) == [("low", "ext-1", "firing"), ("low", "ext-1", "cleared")]


def test_fire_door_open_longer_than_n_seconds_is_for_on_a_state() -> None:
    door = rule("door", match={"metric": "door_open"}, condition={"type": "threshold", "equals": True},
                **{"for": "300s"})
    engine = RuleEngine([door], site=SITE)
    read(engine, "fd", "door_open", True, at(0))
    read(engine, "fd", "door_open", True, at(4))  # repeated state does not restart the timer
    assert engine.tick(at(5) - timedelta(seconds=1)) == []
    assert [e.ts for e in engine.tick(at(5))] == [at(5)]


# -- absent / heartbeat and offline ----------------------------------------------------------

def test_absent_uses_the_kinds_heartbeat_and_clears_on_the_next_reading() -> None:
    silent = rule("silent", condition={"type": "absent"})
    engine = RuleEngine([silent], site=SITE)
    engine.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp"), "lux-1": DeviceInfo("lux-1", "lux_sensor")})
    read(engine, "lamp-1", "current_a", 0.1, at(0))
    read(engine, "lux-1", "illuminance_lux", 3, at(0))  # lux_sensor has no heartbeat here: not watched
    assert engine.next_deadline() == at(15)
    read(engine, "lamp-1", "power_on", True, at(10))  # any metric is a sign of life
    assert engine.tick(at(24)) == []
    fired = engine.tick(at(25))
    assert states(fired) == [("silent", "lamp-1", "firing")] and fired[0].ts == at(25)
    assert engine.tick(at(500)) == []
    assert states(read(engine, "lamp-1", "current_a", 0.1, at(501))) == [("silent", "lamp-1", "cleared")]


def test_absent_with_its_own_period_and_metric_and_the_site_default() -> None:
    r = rule("nopressure", match={"metric": "pressure_mpa"}, condition={"type": "absent", "after": "1h"})
    d = rule("default", condition={"type": "absent"})
    site = SiteContext("UTC", 0, 0, {"default": timedelta(hours=2)})
    engine = RuleEngine([r, d], site=site)
    read(engine, "ext-1", "pressure_mpa", 1.2, at(0))
    read(engine, "ext-1", "battery_pct", 90, at(30))  # not the watched metric for `nopressure`
    assert states(engine.tick(at(60))) == [("nopressure", "ext-1", "firing")]
    assert states(engine.tick(at(150))) == [("default", "ext-1", "firing")]


def test_a_device_from_the_inventory_that_never_speaks_is_silent_one_heartbeat_after_start() -> None:
    engine = RuleEngine([rule("silent", condition={"type": "absent"})], site=SITE)
    engine.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    assert engine.tick(at(0)) == []
    assert [e.ts for e in engine.tick(at(30))] == [at(15)]


def test_offline_from_the_availability_signal_with_for() -> None:
    off = rule("off", condition={"type": "offline"}, **{"for": "5m"})
    engine = RuleEngine([off], site=SITE)
    assert engine.on_availability(Availability("d", False, at(0)), at(0)) == []
    assert engine.on_availability(Availability("d", True, at(2)), at(2)) == []  # a reboot
    engine.on_availability(Availability("d", False, at(10)), at(10))
    assert [e.ts for e in engine.tick(at(15))] == [at(15)]
    cleared = engine.on_availability(Availability("d", True, at(20)), at(20))
    assert states(cleared) == [("off", "d", "cleared")]


# -- signs of life ----------------------------------------------------------------------------------

READERS = SiteContext("Asia/Shanghai", 31.23, 121.47, {"checkpoint_reader": timedelta(hours=1)})


def avail(engine: RuleEngine, device: str, online: bool, when: datetime) -> list[AlertEvent]:
    return engine.on_availability(Availability(device, online, when), when)


def test_a_device_whose_availability_says_online_is_not_silent_until_it_says_offline() -> None:
    engine = RuleEngine([rule("silent", condition={"type": "absent"})], site=READERS)
    engine.set_devices({"cp": DeviceInfo("cp", "checkpoint_reader")})
    assert avail(engine, "cp", True, at(0)) == []
    assert engine.tick(at(600)) == []  # ten hours without a message, but connected all along
    assert avail(engine, "cp", False, at(600)) == []  # its will: it was alive until now
    assert avail(engine, "cp", True, at(601)) == []  # a reboot
    assert avail(engine, "cp", False, at(700)) == []
    assert [e.ts for e in engine.tick(at(800))] == [at(760)]  # silent one heartbeat after it went away


def test_a_tap_is_a_sign_of_life_for_a_heartbeat_but_not_for_an_absent_metric() -> None:
    nobattery = rule("nobattery", match={"metric": "battery_pct"}, condition={"type": "absent", "after": "2h"})
    engine = RuleEngine([rule("silent", condition={"type": "absent"}), nobattery], site=READERS)
    read(engine, "cp", "battery_pct", 90, at(0))
    engine.set_devices({"cp": DeviceInfo("cp", "checkpoint_reader")})
    events = [e for minutes in (50, 100, 150) for e in engine.on_tap("cp", at(minutes))]
    assert [(e.rule, e.ts) for e in events] == [("nobattery", at(120))]  # a tap is no battery reading
    assert [(e.rule, e.ts) for e in engine.tick(at(300))] == [("silent", at(210))]  # an hour after the last tap


def test_a_sign_of_life_after_an_offline_brings_the_device_back_online() -> None:
    off = rule("off", condition={"type": "offline"})
    engine = RuleEngine([off], site=READERS)
    assert states(avail(engine, "d", False, at(0))) == [("off", "d", "firing")]
    assert states(read(engine, "d", "signal", 80, at(1))) == [("off", "d", "cleared")]
    assert states(avail(engine, "d", False, at(2))) == [("off", "d", "firing")]
    assert states(engine.on_tap("d", at(3))) == [("off", "d", "cleared")]


def test_silence_judged_on_a_message_of_many_readings_as_on_each_reading_alone() -> None:
    """The readings of one message come at one instant: the engine evaluates silence at the first
    and only records the others' value and metric. What it concludes (events, times, {value}) must
    be what a full evaluation of every reading gives; here worked out by hand."""
    engine = RuleEngine([rule("silent", condition={"type": "absent"})], site=SITE)
    engine.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    engine.tick(at(0))
    assert [e.ts for e in engine.tick(at(20))] == [at(15)]  # silent from the start
    message = [("voltage_v", 230.0), ("current_a", 0.2), ("power_w", 41.5)]
    cleared = [e for metric, value in message for e in read(engine, "lamp-1", metric, value, at(21))]
    assert states(cleared) == [("silent", "lamp-1", "cleared")]  # once, at the first reading
    for metric, value in message:  # the same instant again (another message): nothing moves
        assert read(engine, "lamp-1", metric, value, at(21)) == []
    assert engine.tick(at(35)) == []
    fired = engine.tick(at(40))
    assert [(e.state, e.ts) for e in fired] == [("firing", at(36))]  # one heartbeat after the message
    assert fired[0].value == 41.5 and "power_w=41.5" in fired[0].title  # the last reading it saw
    # A late message stamped with the instant it was last seen is a sign of life all the same.
    assert states(read(engine, "lamp-1", "voltage_v", 229.0, at(21))) == [("silent", "lamp-1", "cleared")]
    assert [e.ts for e in engine.tick(at(45))] == [at(36)]  # a heartbeat after that instant, again
    # A reading at a later instant is a new sign of life: it clears and re-arms the timer.
    assert states(read(engine, "lamp-1", "power_w", 40.0, at(50))) == [("silent", "lamp-1", "cleared")]
    assert read(engine, "lamp-1", "current_a", 0.2, at(50)) == []
    assert [e.ts for e in engine.tick(at(70))] == [at(65)]


# -- schedules ---------------------------------------------------------------------------------

def lamp_out(during: dict[str, Any]) -> Rule:
    return rule("out", match={"kind": "lamp"},
                condition={"type": "state", "during": during,
                           "any": [{"metric": "current_a", "below": 0.02}, {"metric": "power_on", "equals": False}]})


def test_lamp_out_on_configured_hours_that_wrap_past_midnight_in_the_site_time_zone() -> None:
    engine = RuleEngine([lamp_out({"hours": "18:00-06:00"})], site=SITE)
    engine.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    day = datetime(2026, 11, 20, 17, 0, tzinfo=CST)
    assert read(engine, "lamp-1", "current_a", 0.0, day) == []
    assert engine.next_deadline() == day.replace(hour=18)
    fired = engine.tick(day.replace(hour=18))
    assert states(fired) == [("out", "lamp-1", "firing")] and fired[0].value == 0.0
    assert engine.tick(day.replace(hour=23, minute=59)) == []
    assert engine.tick(day + timedelta(hours=13)) == []  # 06:00 next morning: dawn is no repair
    cleared = read(engine, "lamp-1", "current_a", 0.2, day + timedelta(days=1, hours=1, minutes=5))  # lit at 18:05
    assert states(cleared) == [("out", "lamp-1", "cleared")]


def test_lamp_reporting_off_after_dark_by_sun_angle_fires_at_the_sun_crossing() -> None:
    engine = RuleEngine([lamp_out({"sun_below": -4})], site=SITE)
    engine.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    afternoon = datetime(2026, 11, 20, 16, 0, tzinfo=CST)
    read(engine, "lamp-1", "power_on", False, afternoon)
    dusk = SunCalendar(31.23, 121.47, -4).next_change(afternoon)
    assert datetime(2026, 11, 20, 17, 5, tzinfo=CST) < dusk < datetime(2026, 11, 20, 17, 15, tzinfo=CST)
    assert engine.tick(dusk - timedelta(seconds=1)) == []
    fired = engine.tick(dusk)
    assert states(fired) == [("out", "lamp-1", "firing")]
    assert fired[0].ts == dusk and fired[0].value is False


def test_stuck_relay_needs_both_values_of_the_same_device() -> None:
    stuck = rule("stuck", condition={"type": "state", "all": [{"metric": "power_on", "equals": False},
                                                              {"metric": "current_a", "above": 0.02}]})
    engine = RuleEngine([stuck], site=SITE)
    assert read(engine, "a", "power_on", False, at(0)) == []
    assert read(engine, "b", "current_a", 0.2, at(0)) == []  # another device's current
    assert states(read(engine, "a", "current_a", 0.2, at(1))) == [("stuck", "a", "firing")]


def test_door_opened_outside_configured_hours() -> None:
    r = rule("ooh", match={"metric": "door_open"},
             condition={"type": "threshold", "equals": True, "during": {"outside_hours": "07:00-22:00"}})
    engine = RuleEngine([r], site=SITE)
    evening = datetime(2026, 11, 20, 21, 0, tzinfo=CST)
    assert read(engine, "fd", "door_open", True, evening) == []
    assert read(engine, "fd", "door_open", False, evening + timedelta(minutes=5)) == []
    assert states(read(engine, "fd", "door_open", True, evening + timedelta(hours=2))) == [("ooh", "fd", "firing")]


def test_sun_calendar_is_consistent_at_its_own_boundaries_and_survives_polar_night() -> None:
    cal = SunCalendar(31.23, 121.47, -4)
    t = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    for _ in range(6):
        change = cal.next_change(t)
        assert cal.is_below(change) != cal.is_below(change - timedelta(microseconds=1))
        t = change
    polar = SunCalendar(78.2, 15.6, -4)
    midsummer = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)
    assert polar.is_below(midsummer) is False
    assert polar.next_change(midsummer) > midsummer


# -- time windows: dawn is not a repair --------------------------------------------------------------

NOV20 = datetime(2026, 11, 20, tzinfo=CST)
NIGHT, NOON = timedelta(hours=22), timedelta(hours=12)
# (during, a time inside the window, a later time outside it, a time inside the next window); in
# Shanghai in November 22:00 is dark (sun far below -4 deg) and noon is daylight (far above 6 deg).
WINDOWS = [
    ({"hours": "18:00-06:00"}, NIGHT, timedelta(days=1, hours=12), timedelta(days=1, hours=22)),
    ({"outside_hours": "07:00-22:00"}, timedelta(hours=23), timedelta(days=1, hours=12), timedelta(days=1, hours=23)),
    ({"sun_below": -4}, NIGHT, timedelta(days=1, hours=12), timedelta(days=1, hours=22)),
    ({"sun_above": 6}, NOON, timedelta(hours=23), timedelta(days=1, hours=12)),
]


@pytest.mark.parametrize(("during", "inside", "outside", "next_inside"), WINDOWS, ids=lambda w: str(w))
def test_a_firing_alert_holds_outside_its_window_and_clears_only_on_a_reading_inside_the_next(
        during: dict[str, Any], inside: timedelta, outside: timedelta, next_inside: timedelta) -> None:
    dark = rule("dark", match={"metric": "lux"}, condition={"type": "threshold", "below": 5, "during": during})
    engine = RuleEngine([dark], site=SITE)
    assert states(read(engine, "lux-1", "lux", 0, NOV20 + inside)) == [("dark", "lux-1", "firing")]
    assert engine.tick(NOV20 + outside) == []  # the window closed: no repair
    assert read(engine, "lux-1", "lux", 500, NOV20 + outside) == []  # bright outside the window: no evidence
    assert engine.tick(NOV20 + next_inside) == []  # the window opens on a value read outside it
    assert read(engine, "lux-1", "lux", 0, NOV20 + next_inside + timedelta(minutes=1)) == []  # still firing, once
    cleared = read(engine, "lux-1", "lux", 50, NOV20 + next_inside + timedelta(minutes=2))
    assert states(cleared) == [("dark", "lux-1", "cleared")]


def test_a_pending_alert_is_dropped_when_its_window_closes_and_starts_again_at_the_next() -> None:
    r = rule("dark", match={"metric": "lux"}, condition={"type": "threshold", "below": 5,
                                                         "during": {"hours": "18:00-06:00"}}, **{"for": "30m"})
    engine = RuleEngine([r], site=SITE)
    read(engine, "lux-1", "lux", 0, NOV20 + timedelta(hours=29, minutes=50))  # 05:50, ten minutes to go
    assert engine.tick(NOV20 + timedelta(hours=30, minutes=30)) == []  # 06:30: the window closed first
    assert engine.tick(NOV20 + timedelta(hours=42, minutes=29)) == []  # 18:29 the next evening
    assert [e.ts for e in engine.tick(NOV20 + timedelta(hours=43))] == [NOV20 + timedelta(hours=42, minutes=30)]


def test_a_restart_in_the_day_keeps_the_night_alert_firing_until_it_clears_inside_the_window() -> None:
    rules = [lamp_out({"hours": "18:00-06:00"})]
    first = RuleEngine(rules, site=SITE)
    first.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    assert states(read(first, "lamp-1", "current_a", 0.0, NOV20 + NIGHT)) == [("out", "lamp-1", "firing")]
    second = RuleEngine(rules, site=SITE)
    second.restore(json.loads(json.dumps(first.snapshot())), NOV20 + timedelta(hours=23))
    second.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    assert second.tick(NOV20 + timedelta(days=1, hours=12)) == []
    third = RuleEngine(rules, site=SITE)
    third.restore(json.loads(json.dumps(second.snapshot())), NOV20 + timedelta(days=1, hours=12))
    third.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    assert third.tick(NOV20 + timedelta(days=1, hours=18, minutes=1)) == []
    lit = read(third, "lamp-1", "current_a", 0.15, NOV20 + timedelta(days=1, hours=18, minutes=2))
    assert states(lit) == [("out", "lamp-1", "cleared")]


# -- count and rate ------------------------------------------------------------------------------

def test_count_of_openings_in_a_sliding_window() -> None:
    busy = rule("busy", match={"metric": "door_open"},
                condition={"type": "count", "becomes": True, "window": "1h", "above": 3})
    engine = RuleEngine([busy], site=SITE)
    events: list[AlertEvent] = []
    for i in range(4):
        events += read(engine, "fd", "door_open", False, at(10 * i))
        events += read(engine, "fd", "door_open", True, at(10 * i + 1))
        events += read(engine, "fd", "door_open", True, at(10 * i + 2))  # repeats are not openings
    assert states(events) == [("busy", "fd", "firing")] and events[0].value == 4 and events[0].ts == at(31)
    assert engine.next_deadline() == at(61)  # the first opening leaves the window
    assert states(engine.tick(at(61))) == [("busy", "fd", "cleared")]


def test_flapping_counts_availability_changes() -> None:
    flap = rule("flap", condition={"type": "count", "availability_changes": True, "window": "1h", "above": 2})
    engine = RuleEngine([flap], site=SITE)
    out = []
    for i, online in enumerate([True, True, False, True, False]):
        out += engine.on_availability(Availability("d", online, at(i)), at(i))
    assert states(out) == [("flap", "d", "firing")] and out[0].ts == at(4)


def test_rate_of_fall_fires_on_a_slow_leak_and_not_on_noise() -> None:
    leak = rule("leak", match={"metric": "pressure_mpa"},
                condition={"type": "rate", "window": "6h", "below": -0.01})
    engine = RuleEngine([leak], site=SITE)
    events = []
    for i, value in enumerate([1.20, 1.22, 1.18, 1.21, 1.19, 1.20, 1.21]):  # noisy but flat
        events += read(engine, "ext", "pressure_mpa", value, at(60 * i))
    assert events == []
    engine2 = RuleEngine([leak], site=SITE)
    for i in range(4):
        events += read(engine2, "ext", "pressure_mpa", 1.2 - 0.02 * i, at(60 * i))
    assert states(events) == [("leak", "ext", "firing")]
    assert events[0].value == pytest.approx(-0.02)


def test_rate_keeps_a_bounded_number_of_samples_for_a_chatty_device() -> None:
    leak = rule("leak", match={"metric": "pressure_mpa"}, condition={"type": "rate", "window": "1h", "below": -1})
    engine = RuleEngine([leak], site=SITE)
    for i in range(5000):
        read(engine, "ext", "pressure_mpa", 1.2, T0 + timedelta(seconds=i))
    assert len(engine.snapshot()["tracks"][0]["samples"]) <= 130


# -- every channel of a multi-channel device --------------------------------------------------

def stuck_relays() -> Rule:
    return rule("stuck", match={"kind": "lamp"}, per_channel=True, **{"for": "5m"},
                condition={"type": "state", "all": [{"metric": "power_on", "equals": False},
                                                    {"metric": "current_a", "above": 0.02}]})


def test_a_per_channel_state_rule_reads_each_channels_own_values() -> None:
    # A two-channel relay (Shelly Plus 2PM): channel 2 is OFF yet draws 0.3 A; channel 1 is OFF and dark.
    engine = RuleEngine([stuck_relays()], site=SITE)
    engine.set_devices({"relay-1": DeviceInfo("relay-1", "lamp", "b1", circuit="AL1-WL3")})
    for metric, value in (("power_on", False), ("current_a", 0.0), ("power_on_2", False), ("current_a_2", 0.3)):
        read(engine, "relay-1", metric, value, at(0))
    [fired] = engine.tick(at(5))
    assert (fired.rule, fired.device, fired.state, fired.value) == ("stuck", "relay-1", "firing", False)
    assert fired.labels["channel"] == "2" and fired.subject == "relay-1#2"
    assert fired.key == "stuck:relay-1#2"
    # A board with no ways in the register: its channel 2 is no circuit it knows.
    assert "circuit" not in fired.labels
    # The device's health sees the condition of its channel 2, under the device and the rule's id.
    live = engine.live_changes()
    assert list(live) == ["relay-1"]
    [held] = live["relay-1"]
    assert (held.rule, held.firing, held.reason) == (
        "stuck", True, "power_on = false; current_a 0.3 A > 0.02 A (channel 2)")
    assert states(read(engine, "relay-1", "current_a_2", 0.0, at(6))) == [("stuck", "relay-1", "cleared")]


def test_a_pending_channel_survives_a_restart_and_a_device_that_leaves_the_match_drops_its_channels() -> None:
    first = RuleEngine([stuck_relays()], site=SITE)
    first.set_devices({"relay-1": DeviceInfo("relay-1", "lamp")})
    read(first, "relay-1", "power_on_2", False, at(0))
    read(first, "relay-1", "current_a_2", 0.3, at(1))
    second = RuleEngine([stuck_relays()], site=SITE)
    second.set_devices({"relay-1": DeviceInfo("relay-1", "lamp")})
    second.restore(json.loads(json.dumps(first.snapshot())), at(2))
    assert second.next_deadline() == at(6)
    [fired] = second.tick(at(6))
    assert (fired.device, fired.labels["channel"], fired.ts) == ("relay-1", "2", at(6))
    assert second.set_devices({"relay-1": DeviceInfo("relay-1", "power_meter")}) == [("stuck", "relay-1#2")]
    assert second.firing() == []


# -- state across restarts and reloads -------------------------------------------------------

def test_restore_mid_for_fires_on_time_exactly_once() -> None:
    rules = [low_pressure(**{"for": "10m"})]
    first = RuleEngine(rules, site=SITE)
    read(first, "ext-1", "pressure_mpa", 0.8, at(0))
    saved = json.loads(json.dumps(first.snapshot()))  # what a store would keep

    second = RuleEngine(rules, site=SITE)
    second.restore(saved, at(4))
    assert second.next_deadline() == at(10)
    assert second.tick(at(9)) == []
    fired = second.tick(at(10))
    assert states(fired) == [("low", "ext-1", "firing")] and fired[0].ts == at(10)
    assert second.tick(at(11)) == []
    # And an alert firing before the restart does not fire again after it.
    third = RuleEngine(rules, site=SITE)
    third.restore(json.loads(json.dumps(second.snapshot())), at(12))
    assert third.tick(at(30)) == []
    assert states(read(third, "ext-1", "pressure_mpa", 1.2, at(31))) == [("low", "ext-1", "cleared")]


def test_restore_after_a_long_outage_fires_an_overdue_for_at_its_due_time() -> None:
    rules = [low_pressure(**{"for": "10m"})]
    first = RuleEngine(rules, site=SITE)
    read(first, "ext-1", "pressure_mpa", 0.8, at(0))
    second = RuleEngine(rules, site=SITE)
    second.restore(first.snapshot(), at(60))
    assert [e.ts for e in second.tick(at(60))] == [at(10)]


def test_restore_keeps_heartbeat_deadlines_but_gives_the_broker_backlog_a_grace_period() -> None:
    rules = [rule("silent", condition={"type": "absent"})]
    first = RuleEngine(rules, site=SITE)
    read(first, "lamp-1", "current_a", 0.1, at(0))
    read(first, "lamp-2", "current_a", 0.1, at(0))
    first.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp"), "lamp-2": DeviceInfo("lamp-2", "lamp")})
    soon = RuleEngine(rules, site=SITE)
    soon.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp"), "lamp-2": DeviceInfo("lamp-2", "lamp")})
    soon.restore(first.snapshot(), at(5))
    assert soon.next_deadline() == at(15)  # the deadline survived the restart
    late = RuleEngine(rules, site=SITE)
    late.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp"), "lamp-2": DeviceInfo("lamp-2", "lamp")})
    late.restore(first.snapshot(), at(40))  # both heartbeats ran out while the gateway was down
    assert late.on_reading(Reading("lamp-1", "current_a", 0.1, None, at(41)), at(41)) == []  # backlog arrives
    assert late.tick(at(44)) == []
    fired = late.tick(at(45))
    assert [(e.device, e.ts) for e in fired] == [("lamp-2", at(45))]


def test_snapshot_is_json_and_restore_rejects_another_version() -> None:
    engine = RuleEngine([low_pressure()], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 0.8, at(0))
    snap = engine.snapshot()
    assert json.loads(json.dumps(snap)) == snap
    with pytest.raises(ValueError, match="version"):
        engine.restore({**snap, "version": 99}, at(1))


def test_replace_rules_keeps_the_state_of_rules_whose_id_is_unchanged() -> None:
    engine = RuleEngine([low_pressure(**{"for": "10m"}), rule("smoke", match={"metric": "smoke"},
                                                              condition={"type": "threshold", "equals": True})],
                        site=SITE)
    read(engine, "ext-1", "pressure_mpa", 0.8, at(0))
    read(engine, "s1", "smoke", True, at(0))
    tuned = low_pressure(**{"for": "10m"}, annotations={"title": "new title {device}"})
    engine.replace_rules([tuned, rule("smoke", match={"metric": "smoke"},
                                      condition={"type": "threshold", "equals": True})])
    fired = engine.tick(at(10))
    assert states(fired) == [("low", "ext-1", "firing")] and fired[0].title == "new title ext-1"
    assert read(engine, "s1", "smoke", True, at(11)) == []  # still firing from before the reload
    assert states(read(engine, "s1", "smoke", False, at(12))) == [("smoke", "s1", "cleared")]


def test_replace_rules_drops_removed_rules_and_rules_that_changed_their_condition_type() -> None:
    engine = RuleEngine([low_pressure(**{"for": "10m"})], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 0.8, at(0))
    engine.replace_rules([rule("low", match={"metric": "pressure_mpa"}, condition={"type": "absent", "after": "1h"})])
    assert engine.tick(at(10)) == []
    engine.replace_rules([])
    assert engine.next_deadline() is None and engine.snapshot()["tracks"] == []


def test_a_rule_whose_condition_type_changed_keeps_its_firing_alert_until_the_new_condition_is_false() -> None:
    engine = RuleEngine([low_pressure()], site=SITE)
    assert states(read(engine, "ext-1", "pressure_mpa", 0.8, at(0))) == [("low", "ext-1", "firing")]
    state = rule("low", match={"metric": "pressure_mpa"},
                 condition={"type": "state", "all": [{"below": 1.0}]})
    dropped = engine.replace_rules([state])
    assert read(engine, "ext-1", "pressure_mpa", 0.7, at(1)) == []  # the same alert, not a second one
    assert dropped == []
    assert states(read(engine, "ext-1", "pressure_mpa", 1.2, at(2))) == [("low", "ext-1", "cleared")]


def test_a_removed_rule_stops_watching_without_calling_its_alerts_cleared() -> None:
    engine = RuleEngine([low_pressure()], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 0.8, at(0))
    snapshot = engine.snapshot()
    dropped = engine.replace_rules([])
    assert engine.tick(at(60)) == [] and engine.firing() == []
    assert dropped == [("low", "ext-1")]  # what was left firing, for the log
    restarted = RuleEngine([], site=SITE)  # removed while the gateway was down: the same
    assert restarted.restore(snapshot, at(61)) == [("low", "ext-1")] and restarted.tick(at(62)) == []


def test_a_restart_with_a_rule_whose_condition_type_changed_keeps_its_firing_alert() -> None:
    first = RuleEngine([low_pressure()], site=SITE)
    read(first, "ext-1", "pressure_mpa", 0.8, at(0))
    state = rule("low", match={"metric": "pressure_mpa"}, condition={"type": "state", "all": [{"below": 1.0}]})
    second = RuleEngine([state], site=SITE)
    second.restore(json.loads(json.dumps(first.snapshot())), at(1))
    assert second.firing() == [("low", "ext-1")]
    assert read(second, "ext-1", "pressure_mpa", 0.7, at(2)) == []
    assert states(read(second, "ext-1", "pressure_mpa", 1.2, at(3))) == [("low", "ext-1", "cleared")]


def test_set_devices_moving_a_device_out_of_a_rules_match_stops_its_timers() -> None:
    silent = rule("silent", match={"kind": "lamp"}, condition={"type": "absent"})
    engine = RuleEngine([silent], site=SITE)
    engine.set_devices({"x": DeviceInfo("x", "lamp")})
    read(engine, "x", "current_a", 0.1, at(0))
    engine.set_devices({"x": DeviceInfo("x", "power_meter")})
    assert engine.tick(at(60)) == []


# -- device changes reach the rules at once ---------------------------------------------------------

HEARTBEATS = SiteContext("Asia/Shanghai", 31.23, 121.47, {"lamp": timedelta(minutes=15), "unknown": timedelta(hours=1)})


def test_a_kind_learned_later_re_arms_the_heartbeat_of_the_new_kind_at_once() -> None:
    engine = RuleEngine([rule("silent", condition={"type": "absent"})], site=HEARTBEATS)
    read(engine, "lamp-1", "current_a", 0.1, at(0))
    assert engine.next_deadline() == at(60)  # unknown: 1 h
    assert engine.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")}) == []
    assert engine.next_deadline() == at(15)
    assert [e.ts for e in engine.tick(at(20))] == [at(15)]


def test_a_device_that_leaves_a_rules_match_is_no_longer_watched_and_is_not_called_cleared() -> None:
    engine = RuleEngine([rule("out", match={"kind": "lamp", "metric": "current_a"},
                              condition={"type": "threshold", "below": 0.02})], site=SITE)
    engine.set_devices({"x": DeviceInfo("x", "lamp")})
    assert states(read(engine, "x", "current_a", 0.0, at(0))) == [("out", "x", "firing")]
    dropped = engine.set_devices({"x": DeviceInfo("x", "power_meter")})
    assert engine.firing() == [] and read(engine, "x", "current_a", 0.5, at(1)) == []
    assert dropped == [("out", "x")]


def test_a_restart_gives_an_overdue_heartbeat_its_grace_with_the_kind_known_after_the_restore() -> None:
    rules = [rule("silent", condition={"type": "absent"})]
    first = RuleEngine(rules, site=HEARTBEATS)
    first.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    read(first, "lamp-1", "current_a", 0.1, at(0))
    second = RuleEngine(rules, site=HEARTBEATS)
    second.restore(first.snapshot(), at(30))  # the devices given after the state: the order must not matter
    second.set_devices({"lamp-1": DeviceInfo("lamp-1", "lamp")})
    assert second.tick(at(34)) == []
    assert [e.ts for e in second.tick(at(40))] == [at(35)]  # 5 minutes of grace for the broker's backlog


def test_a_restore_checks_the_devices_given_before_it_against_the_rules() -> None:
    out = rule("out", match={"kind": "lamp", "metric": "current_a"}, condition={"type": "threshold", "below": 0.02})
    first = RuleEngine([out], site=SITE)
    first.set_devices({"x": DeviceInfo("x", "lamp"), "y": DeviceInfo("y", "lamp")})
    read(first, "x", "current_a", 0.0, at(0))
    read(first, "y", "current_a", 0.0, at(0))
    second = RuleEngine([out], site=SITE)
    second.set_devices({"x": DeviceInfo("x", "power_meter"), "y": DeviceInfo("y", "lamp")})  # x was no lamp
    assert second.restore(first.snapshot(), at(1)) == [("out", "x")]
    assert second.firing() == [("out", "y")]


def test_times_must_be_timezone_aware() -> None:
    engine = RuleEngine([low_pressure()], site=SITE)
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.tick(datetime(2026, 1, 1))


# -- a restart anywhere changes nothing ---------------------------------------------------------

MIXED = [
    low_pressure(**{"for": "3m"}),
    rule("busy", match={"metric": "door_open"}, condition={"type": "count", "becomes": True, "window": "10m",
                                                          "above": 2}),
    rule("silent", condition={"type": "absent", "after": "7m"}),
    rule("off", condition={"type": "offline"}, **{"for": "2m"}),
    rule("leak", match={"metric": "pressure_mpa"}, condition={"type": "rate", "window": "20m", "below": -0.5}),
]


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["a", "b"]),
                                st.sampled_from(["p", "door", "avail"]), st.booleans(),
                                st.floats(0.5, 1.3)), min_size=1, max_size=25),
       cut=st.integers(0, 25))
def test_snapshot_and_restore_at_any_point_gives_the_same_alerts_as_running_through(
        steps: list[tuple[int, str, str, bool, float]], cut: int) -> None:
    def feed(engine: RuleEngine, items: list[tuple[datetime, str, str, bool, float]]) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        for when, device, what, flag, number in items:
            if what == "p":
                out += read(engine, device, "pressure_mpa", number, when)
            elif what == "door":
                out += read(engine, device, "door_open", flag, when)
            else:
                out += engine.on_availability(Availability(device, flag, when), when)
            out += engine.tick(when)
        return out

    timeline, when = [], T0
    for gap, device, what, flag, number in steps:
        when += timedelta(minutes=gap)
        timeline.append((when, device, what, flag, number))
    end = when + timedelta(hours=1)
    straight = RuleEngine(MIXED, site=SITE)
    expected = feed(straight, timeline) + straight.tick(end)

    cut = min(cut, len(timeline))
    first = RuleEngine(MIXED, site=SITE)
    got = feed(first, timeline[:cut])
    second = RuleEngine(MIXED, site=SITE)
    restart_at = timeline[cut - 1][0] if cut else T0
    second.restore(json.loads(json.dumps(first.snapshot())), restart_at)
    got += feed(second, timeline[cut:]) + second.tick(end)
    assert [(e.rule, e.device, e.state, e.ts) for e in got] == [(e.rule, e.device, e.state, e.ts) for e in expected]


def test_a_snapshot_leaves_defaults_out_and_the_full_form_still_restores() -> None:
    # Fields at their default are left out of a snapshot (its size at 100,000 devices); a False
    # value is kept (an offline `last` is not "unknown"), and a snapshot with every field, as
    # written before, restores the same.
    rules = [low_pressure(**{"for": "10m"}), rule("silent", condition={"type": "absent"})]
    devices = {"lamp-1": DeviceInfo("lamp-1", "lamp"), "ext-1": DeviceInfo("ext-1", "extinguisher")}
    first = RuleEngine(rules, site=SITE)
    first.set_devices(devices)
    read(first, "ext-1", "pressure_mpa", 0.8, at(0))
    first.on_availability(Availability("lamp-1", False, at(1)), at(1))
    saved = json.loads(json.dumps(first.snapshot()))
    assert any(t.get("last") is False for t in saved["tracks"])
    assert all("events" not in t and "fired_at" not in t and "firing" not in t for t in saved["tracks"])
    defaults = {"active": False, "since": None, "firing": False, "fired_at": None, "value": None, "metric": None,
                "last": None, "last_seen": None, "events": [], "samples": []}
    full = {**saved, "tracks": [{**defaults, **t} for t in saved["tracks"]]}
    for state in (saved, full):
        second = RuleEngine(rules, site=SITE)
        second.set_devices(devices)
        second.restore(state, at(2))
        assert second.snapshot()["tracks"] == saved["tracks"]
        assert second.next_deadline() == first.next_deadline()
        assert states(second.tick(at(10))) == [("low", "ext-1", "firing")]


def test_a_naive_time_is_refused_also_after_aware_ones() -> None:
    engine = RuleEngine([low_pressure()], site=SITE)
    read(engine, "ext-1", "pressure_mpa", 1.2, at(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        read(engine, "ext-1", "pressure_mpa", 1.2, datetime(2026, 11, 20, 10, 1))
