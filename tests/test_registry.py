"""Device registry: latest values, online state from signals and silence, discovery bound, health."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from gateway.core.model import Availability, Decoded, DeviceInfo, LiveCondition, Reading, Tap
from gateway.ingest.health import Health, assess
from gateway.ingest.journal import SCHEMA
from gateway.ingest.registry import DeviceLimitReached, DeviceState, MetricValue, Registry

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def reading(dev: str, metric: str, value: float | bool, ts: datetime = T0) -> Decoded:
    return Decoded(profile="p", device=dev, readings=[Reading(dev, metric, value, None, ts)])


def avail(dev: str, online: bool) -> Decoded:
    return Decoded(profile="p", device=dev, availability=Availability(dev, online, T0))


def test_inventory_devices_keep_kind_and_zone_and_start_unknown_online() -> None:
    reg = Registry({"ext-1": DeviceInfo("ext-1", kind="extinguisher", zone="b1")}, heartbeat={})
    view = reg.view("ext-1", T0)
    assert view is not None
    assert (view["kind"], view["zone"], view["online"], view["last_seen"]) == ("extinguisher", "b1", None, None)


def test_newer_value_wins_and_an_older_buffered_value_does_not_overwrite_it() -> None:
    reg = Registry({}, heartbeat={})
    reg.apply(reading("d", "pressure_mpa", 1.2, T0 + timedelta(minutes=5)), T0 + timedelta(minutes=5))
    reg.apply(reading("d", "pressure_mpa", 0.7, T0), T0 + timedelta(minutes=6))
    view = reg.view("d", T0)
    assert view is not None and view["metrics"]["pressure_mpa"] == 1.2


def test_availability_then_traffic_then_silence_drive_online_state() -> None:
    reg = Registry({"s": DeviceInfo("s", kind="smoke_detector")},
                   heartbeat={"smoke_detector": timedelta(hours=1)})
    events = reg.apply(Decoded(profile="p", device="s", availability=Availability("s", False, T0)), T0)
    assert events[0]["change"] == "offline"
    events = reg.apply(reading("s", "smoke", False), T0 + timedelta(minutes=1))
    assert events[0]["change"] == "online" and events[0]["source"] == "traffic"
    assert reg.sweep(T0 + timedelta(minutes=30)) == []
    gone = reg.sweep(T0 + timedelta(minutes=62))
    assert [e["device"] for e in gone] == ["s"]
    view = reg.view("s", T0)
    assert view is not None and view["online"] is False and view["online_source"] == "silence"


def test_an_unregistered_device_keeps_kind_unknown_and_only_looks_like_a_kind() -> None:
    # The incident: a pressure transmitter on the hydrant ring main (0.28 MPa is normal there) was
    # taken for an extinguisher, and the extinguisher rules opened tickets on it.
    reg = Registry({}, heartbeat={})
    reg.apply(reading("ring-pt-3", "pressure_mpa", 0.28), T0)
    reg.apply(reading("z", "smoke", False), T0)
    reg.apply(reading("door", "door_open", True), T0)
    reg.apply(Decoded(profile="native", device="cp-1", taps=[Tap("cp-1", "G1", T0, T0)]), T0)
    reg.apply(reading("hydrant-ring-main", "pressure_mpa", 0.3), T0)
    views = {v["id"]: v for v in reg.views(T0)}
    assert {d: v["kind"] for d, v in views.items()} == dict.fromkeys(views, "unknown")
    assert {d: v["suggested_kind"] for d, v in views.items()} == {
        "ring-pt-3": "extinguisher", "z": "smoke_detector", "door": "fire_door", "cp-1": "checkpoint_reader",
        "hydrant-ring-main": "hydrant"}
    assert all(v["registered"] is False and v["kind_source"] is None for v in views.values())
    assert reg.infos()["ring-pt-3"].kind == "unknown"  # what the rules see
    assert reg.lookalikes()["ring-pt-3"].kind == "extinguisher"


def test_what_a_device_says_it_is_is_its_kind_and_the_inventory_wins_over_it() -> None:
    reg = Registry({"ext-1": DeviceInfo("ext-1", kind="extinguisher"), "spare": DeviceInfo("spare")},
                   heartbeat={})
    said = Decoded(profile="native", device="ring-pt-3", kind="hydrant",
                   readings=[Reading("ring-pt-3", "pressure_mpa", 0.28, "MPa", T0)])
    reg.apply(said, T0)
    reg.apply(Decoded(profile="z2m", device="ext-1", kind="smoke_detector", model="JTYJ-GD-01LM/BW"), T0)
    reg.apply(Decoded(profile="native", device="spare", kind="lamp"), T0)  # registered without a kind
    views = {v["id"]: v for v in reg.views(T0)}
    assert (views["ring-pt-3"]["kind"], views["ring-pt-3"]["kind_source"]) == ("hydrant", "device")
    assert views["ring-pt-3"]["suggested_kind"] is None and views["ring-pt-3"]["registered"] is False
    assert (views["ext-1"]["kind"], views["ext-1"]["kind_source"]) == ("extinguisher", "inventory")
    assert views["ext-1"]["model"] == "JTYJ-GD-01LM/BW"
    assert (views["spare"]["kind"], views["spare"]["kind_source"]) == ("lamp", "device")
    assert reg.lookalikes() == {}


def test_a_kind_guessed_by_an_older_version_is_only_a_suggestion_after_restart() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    saved = {"info": {"id": "ring-pt-3", "kind": "extinguisher", "zone": "unassigned", "profile": "native",
                      "location": None, "owner": None, "circuit": None},
             "discovered": True, "online": True, "online_source": "traffic", "last_seen": T0.isoformat(),
             "metrics": {"pressure_mpa": [0.28, "MPa", T0.isoformat()]}, "messages": 3}
    db.execute("INSERT INTO devices(id, state) VALUES(?, ?)", ("ring-pt-3", orjson.dumps(saved).decode()))
    reg = Registry({}, heartbeat={})
    reg.load(db)
    view = reg.view("ring-pt-3", T0)
    assert view is not None
    assert (view["kind"], view["suggested_kind"], view["registered"]) == ("unknown", "extinguisher", False)


def test_a_device_taken_out_of_the_inventory_is_unregistered_again() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    reg = Registry({"ext-9": DeviceInfo("ext-9", kind="extinguisher", zone="b1")}, heartbeat={})
    reg.apply(reading("ext-9", "pressure_mpa", 1.2), T0)
    db.executemany("INSERT INTO devices(id, state) VALUES(?, ?)", reg.dirty_rows())
    again = Registry({}, heartbeat={})
    again.load(db)
    view = again.view("ext-9", T0)
    assert view is not None
    assert (view["kind"], view["zone"], view["registered"], view["suggested_kind"]) == (
        "unknown", "unassigned", False, "extinguisher")


def test_discovery_stops_at_the_device_bound_but_inventory_devices_still_update() -> None:
    reg = Registry({"known": DeviceInfo("known")}, heartbeat={}, max_devices=2)
    reg.apply(reading("new-1", "signal", 50), T0)
    with pytest.raises(DeviceLimitReached, match=r"ingest\.max_devices"):
        reg.apply(reading("new-2", "signal", 50), T0)
    reg.apply(reading("known", "signal", 60), T0)
    assert len(reg) == 2


def test_state_round_trips_through_the_database_and_inventory_wins_on_reload() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    reg = Registry({}, heartbeat={})
    reg.apply(reading("d", "pressure_mpa", 1.1), T0)
    db.executemany("INSERT INTO devices(id, state) VALUES(?, ?)", reg.dirty_rows())
    assert reg.dirty_rows() == []
    again = Registry({"d": DeviceInfo("d", kind="hydrant", zone="ring")}, heartbeat={})
    assert again.load(db) == 1
    view = again.view("d", T0)
    assert view is not None
    assert (view["kind"], view["zone"], view["metrics"], view["messages"]) == (
        "hydrant", "ring", {"pressure_mpa": 1.1}, 1)


def test_every_change_of_what_a_device_is_is_counted_for_the_rules_and_nothing_else() -> None:
    reg = Registry({}, heartbeat={})
    start = reg.info_version
    reg.apply(reading("ext-9", "battery_pct", 90), T0)  # discovered, kind unknown
    discovered = reg.info_version
    reg.apply(reading("ext-9", "battery_pct", 89), T0 + timedelta(minutes=1))
    assert discovered == reg.info_version != start  # a reading that changes nothing about the device
    reg.apply(reading("ext-9", "pressure_mpa", 0.6), T0 + timedelta(minutes=2))  # looks like one: a guess
    assert reg.info_version == discovered  # a suggestion is not what the device is
    said = Decoded(profile="p", device="ext-9", kind="extinguisher",
                   readings=[Reading("ext-9", "pressure_mpa", 0.6, None, T0)])
    reg.apply(said, T0 + timedelta(minutes=3))  # the device says it is an extinguisher
    assert reg.info_version != discovered
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO devices(id, state) VALUES(?, ?)", reg.dirty_rows())
    again = Registry({"ext-9": DeviceInfo("ext-9", kind="extinguisher", zone="b1", owner="B1 team")}, heartbeat={})
    before = again.info_version
    again.load(db)  # the inventory, edited while the gateway was down, wins
    assert again.info_version != before


def test_a_device_online_by_its_availability_stays_online_through_silence_and_one_online_by_traffic_does_not() -> None:
    hb = {"checkpoint_reader": timedelta(hours=1)}
    reg = Registry({"cp-gate": DeviceInfo("cp-gate", kind="checkpoint_reader"),
                    "cp-yard": DeviceInfo("cp-yard", kind="checkpoint_reader")}, heartbeat=hb)
    reg.apply(avail("cp-gate", True), T0)
    reg.apply(Decoded(profile="p", device="cp-yard", taps=[Tap("cp-yard", "G1", T0, T0)]), T0)
    gone = reg.sweep(T0 + timedelta(hours=5))
    assert [e["device"] for e in gone] == ["cp-yard"]
    views = {v["id"]: v for v in reg.views(T0 + timedelta(hours=5))}
    assert (views["cp-gate"]["online"], views["cp-yard"]["online"]) == (True, False)
    assert views["cp-gate"]["health"] == 1.0  # connected: not stale
    reg.apply(avail("cp-gate", False), T0 + timedelta(hours=6))
    view = reg.view("cp-gate", T0)
    assert view is not None and view["online"] is False
    assert view["last_seen"] == (T0 + timedelta(hours=6)).isoformat()  # alive until its will was sent


def test_an_offline_will_is_not_a_sign_of_life() -> None:
    reg = Registry({"s": DeviceInfo("s", kind="smoke_detector")}, heartbeat={})
    reg.apply(reading("s", "smoke", False), T0)
    reg.apply(avail("s", False), T0 + timedelta(hours=3))  # the broker's will for a device gone long ago
    view = reg.view("s", T0)
    assert view is not None and view["online"] is False and view["last_seen"] == T0.isoformat()


def condition(rule: str, severity: str, *, firing: bool, metric: str | None = None,
              contact: bool = False) -> LiveCondition:
    return LiveCondition(rule=rule, severity=severity, firing=firing, reason=f"{metric or 'it'} is off",
                         metric=metric, contact=contact)


def test_health_is_good_until_something_holds_and_its_figure_stays_inside_its_band() -> None:
    state = DeviceState(info=DeviceInfo("d"), online=True, last_seen=T0)
    hb = timedelta(hours=1)
    assert assess(state, T0, hb, ()) == Health(1.0, "good", ())
    # Getting stale (past half its heartbeat) lowers the figure, not the band: it may stay silent a heartbeat.
    assert assess(state, T0 + timedelta(minutes=40), hb, ()) == Health(0.9, "good", ())
    assert assess(state, T0 + timedelta(minutes=59), hb, ()).score == 0.8
    state.metrics["battery_pct"] = MetricValue(12, "%", T0)
    assert assess(state, T0, hb, ()) == Health(0.7, "degraded", ("battery_pct 12 % < 20 % (low battery)",))
    state.metrics["signal"] = MetricValue(10, None, T0)
    assert assess(state, T0, hb, ()) == Health(0.6, "degraded", (
        "battery_pct 12 % < 20 % (low battery)", "signal 10 < 30 (weak radio link)"))
    pending = condition("lighting.lamp_out", "minor", firing=False, metric="current_a")
    assert assess(state, T0, hb, (pending,)).score == 0.5  # 1 - 0.3 - 0.1 - 0.1
    firing = condition("fire.extinguisher_low", "major", firing=True, metric="pressure_mpa")
    health = assess(state, T0, hb, (pending, firing))
    assert (health.band, health.score) == ("faulty", 0.1)  # 1 - 0.9 would be 0.1 anyway
    assert health.reasons[0] == "pressure_mpa is off (fire.extinguisher_low, major, firing)"  # the worst first
    assert assess(state, T0, hb, (firing,)).score == 0.2
    state.online, state.online_source = False, "availability"
    assert assess(state, T0, hb, (firing,)) == Health(0.0, "offline", (
        "offline (its availability says so)", "pressure_mpa is off (fire.extinguisher_low, major, firing)",
        "battery_pct 12 % < 20 % (low battery)", "signal 10 < 30 (weak radio link)"))


def test_a_warning_or_a_pending_condition_degrades_and_a_firing_one_of_any_other_severity_is_a_fault() -> None:
    state = DeviceState(info=DeviceInfo("d"), online=True, last_seen=T0)
    hb = timedelta(hours=1)
    assert assess(state, T0, hb, (condition("health.weak_signal", "warning", firing=True),)).band == "degraded"
    assert assess(state, T0, hb, (condition("fire.smoke", "critical", firing=False),)).band == "degraded"
    for severity in ("minor", "major", "critical"):
        health = assess(state, T0, hb, (condition("r", severity, firing=True),))
        assert health.band == "faulty" and 0.1 <= health.score <= 0.45


def test_a_rule_that_watches_the_battery_or_the_signal_says_it_instead_of_the_registry() -> None:
    state = DeviceState(info=DeviceInfo("d"), online=True, last_seen=T0,
                        metrics={"battery_low": MetricValue(True, None, T0)})
    battery = condition("fire.battery_low", "minor", firing=False, metric="battery_low")
    assert assess(state, T0, timedelta(hours=1), (battery,)).reasons == (
        "battery_low is off (fire.battery_low, minor, pending)",)


def test_silence_found_by_the_rules_is_offline_and_says_nothing_more_once_the_registry_knows() -> None:
    never_heard = DeviceState(info=DeviceInfo("d"))
    silent = condition("health.silent", "minor", firing=True, contact=True)
    assert assess(never_heard, T0, timedelta(hours=1), (silent,)) == Health(
        0.0, "offline", ("it is off (health.silent, minor, firing)",))
    gone = DeviceState(info=DeviceInfo("d"), online=False, online_source="silence", last_seen=T0)
    assert assess(gone, T0 + timedelta(hours=2), timedelta(hours=1), (silent,)) == Health(
        0.0, "offline", ("offline (nothing heard for more than 1h)",))


def test_the_registry_shows_the_conditions_published_for_a_device_until_they_are_gone() -> None:
    reg = Registry({"ext-1": DeviceInfo("ext-1", kind="extinguisher")}, heartbeat={})
    reg.apply(reading("ext-1", "pressure_mpa", 0.55), T0)
    low = LiveCondition(rule="fire.extinguisher_low", severity="major", firing=True,
                        reason="pressure_mpa 0.55 MPa < 1 MPa", metric="pressure_mpa")
    reg.set_conditions({"ext-1": (low,)})
    view = reg.view("ext-1", T0)
    assert view is not None
    assert (view["health_band"], view["health_reasons"]) == (
        "faulty", ["pressure_mpa 0.55 MPa < 1 MPa (fire.extinguisher_low, major, firing)"])
    reg.set_conditions({"ext-1": ()})
    assert [(v["health_band"], v["health"]) for v in reg.views(T0)] == [("good", 1.0)]


def test_a_link_quality_of_zero_is_the_weakest_and_a_negative_signal_is_rssi_in_dbm() -> None:
    state = DeviceState(info=DeviceInfo("d"), online=True, last_seen=T0,
                        metrics={"signal": MetricValue(0, None, T0)})
    assert assess(state, T0, timedelta(hours=1), ()).reasons == ("signal 0 < 30 (weak radio link)",)
    state.metrics["signal"] = MetricValue(-67, "dBm", T0)
    assert assess(state, T0, timedelta(hours=1), ()) == Health(1.0, "good", ())


def mixed_devices(heartbeat: timedelta) -> Registry:
    """An extinguisher with a firing major condition, an idle inventory device, a discovered one with
    a low battery and one whose availability says offline; all at T0."""
    reg = Registry({"ext-1": DeviceInfo("ext-1", kind="extinguisher", zone="b1"), "idle": DeviceInfo("idle")},
                   heartbeat={"extinguisher": heartbeat})
    reg.apply(reading("ext-1", "pressure_mpa", 1.2), T0)
    reg.apply(reading("d", "battery_pct", 5), T0)
    reg.apply(avail("z", False), T0)
    reg.set_conditions({"ext-1": [LiveCondition("fire.extinguisher_low", "major", True, "pressure low")]})
    return reg


def test_healths_say_what_the_views_say_in_the_same_order() -> None:
    # The minutely equipment_health points read healths(), not views(): same devices, same figures.
    reg = mixed_devices(timedelta(minutes=5))
    for at in (T0, T0 + timedelta(minutes=7)):
        reg.sweep(at)
        assert [(h.info.id, h.info.kind, h.info.zone, h.online, h.health.score, h.health.band)
                for h in reg.healths(at)] == [
            (v["id"], v["kind"], v["zone"], v["online"], v["health"], v["health_band"]) for v in reg.views(at)]


def test_the_stored_form_of_a_device_is_the_json_it_always_was_and_reads_back_equal() -> None:
    # to_json hands orjson the DeviceInfo and the datetimes themselves; the row must stay the text
    # older releases wrote and read (written out here by hand, as they built it).
    at = datetime(2026, 12, 1, 19, 30, 0, 123, tzinfo=UTC)
    for state in (
        DeviceState(DeviceInfo("ext-1", kind="extinguisher", zone="b2", profile="zigbee2mqtt", location="B2 东",
                               owner="eng-1", circuit=None), online=True, online_source="traffic", last_seen=at,
                    metrics={"pressure_mpa": MetricValue(1.02, "MPa", at), "alarm": MetricValue(False, None, at),
                             "count": MetricValue(7, None, at.astimezone(ZoneInfo("Asia/Shanghai"))),
                             "state": MetricValue("ON", None, at.replace(microsecond=0))}, messages=12),
        DeviceState(DeviceInfo("new-1"), discovered=True, kind_source=None, suggested_kind="lamp"),
    ):
        old = {
            "info": {k: getattr(state.info, k) for k in DeviceInfo.__slots__},
            "discovered": state.discovered, "kind_source": state.kind_source,
            "suggested_kind": state.suggested_kind, "model": state.model, "online": state.online,
            "online_source": state.online_source,
            "last_seen": state.last_seen.isoformat() if state.last_seen else None,
            "metrics": {k: [m.value, m.unit, m.ts.isoformat()] for k, m in state.metrics.items()},
            "messages": state.messages,
        }
        stored = orjson.dumps(state.to_json())
        assert stored == orjson.dumps(old)
        assert DeviceState.from_json(orjson.loads(stored)) == state
