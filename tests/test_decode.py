"""The Decoder on real captures, on every rejection reason, and on device time."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.core.model import Decoded, RawMessage
from gateway.devices.decoder import REASONS, Decoder
from gateway.devices.loader import load_profiles
from gateway.devices.schema import Profile

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).resolve().parent / "data" / "samples"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 18, 10, 5, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def profiles() -> list[Profile]:
    return load_profiles([ROOT / "devices"])


@pytest.fixture(scope="module")
def decoder(profiles: list[Profile]) -> Decoder:
    return Decoder(profiles, site_id="demo", tz=SHANGHAI)


def msg(topic: str, payload: bytes | str | dict[str, Any], at: datetime = NOW) -> RawMessage:
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    return RawMessage(topic, payload.encode() if isinstance(payload, str) else payload, at)


def values(decoded: Decoded) -> dict[str, Any]:
    return {r.metric: r.value for r in decoded.readings}


def reasons(decoded: Decoded) -> list[str]:
    return [r.reason for r in decoded.rejections]


# -- the captures in tests/data/samples -----------------------------------------------------------

def _capture_lines() -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for path in sorted(SAMPLES.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                out.append((path.name, n, json.loads(line)))
    return out


def _raw(record: dict[str, Any]) -> RawMessage:
    payload = base64.b64decode(record["payload_b64"]) if "payload_b64" in record \
        else record["payload"].encode("utf-8")
    return RawMessage(record["topic"], payload, datetime.fromisoformat(record["ts"]))


# (file, line) -> what it must give: readings, or ("online", bool), or ("tap", tag)
CAPTURE_EXPECTED: dict[tuple[str, int], Any] = {
    ("zigbee2mqtt.jsonl", 1): {"battery_pct": 97, "battery_low": False, "signal": 132, "smoke": False,
                               "tamper": False, "voltage_v": 3.01},
    ("zigbee2mqtt.jsonl", 2): {"battery_pct": 100, "door_open": False, "signal": 96, "voltage_v": 3.065},
    ("zigbee2mqtt.jsonl", 3): {"battery_pct": 100, "door_open": True, "signal": 94, "voltage_v": 3.065},
    ("zigbee2mqtt.jsonl", 4): {"battery_pct": 88, "illuminance_lux": 3, "signal": 145, "voltage_v": 2.98},
    ("zigbee2mqtt.jsonl", 5): ("online", True),
    ("zigbee2mqtt.jsonl", 6): ("online", False),
    ("zigbee2mqtt.jsonl", 7): {"battery_pct": 12, "battery_low": True, "signal": 61, "smoke": False,
                               "tamper": False, "voltage_v": 2.61},
    ("tasmota.jsonl", 1): ("online", True),
    ("tasmota.jsonl", 2): {"power_on": True, "signal": 64},
    ("tasmota.jsonl", 3): {"energy_kwh": 412.3, "power_w": 0, "power_factor": 0.0, "voltage_v": 229,
                           "current_a": 0.0},
    ("tasmota.jsonl", 4): {"energy_kwh": 398.0, "power_w": 31, "power_factor": 0.89, "voltage_v": 231,
                           "current_a": 0.151},
    ("tasmota.jsonl", 5): {"power_on": True},
    ("tasmota.jsonl", 6): {"illuminance_lux": 4},
    ("tasmota.jsonl", 7): {"power_w": 62, "power_w_2": 0, "voltage_v": 230, "current_a": 0.278,
                           "current_a_2": 0.0},
    ("tasmota.jsonl", 8): ("online", False),
    ("shelly.jsonl", 1): ("online", True),
    ("shelly.jsonl", 2): {"power_on": True, "power_w": 58.2, "voltage_v": 229.8, "current_a": 0.262,
                          "energy_kwh": 1.532441, "temperature_c": 41.2},
    ("shelly.jsonl", 3): {"power_w": 0.0, "current_a": 0.0},
    ("native.jsonl", 1): ("tap", "G0017"),
    ("native.jsonl", 2): ("tap", "G0017"),
    ("native.jsonl", 3): {"pressure_mpa": 1.22, "battery_pct": 91},
    ("native.jsonl", 4): {"pressure_mpa": 0.71, "battery_pct": 91},
    ("native.jsonl", 5): {"pressure_mpa": 0.32},
    ("native.jsonl", 6): ("online", True),
}


def test_every_capture_line_has_an_expectation() -> None:
    assert {(f, n) for f, n, _ in _capture_lines()} == set(CAPTURE_EXPECTED)


@pytest.mark.parametrize(("name", "line", "record"), _capture_lines(),
                         ids=lambda v: str(v) if not isinstance(v, dict) else "")
def test_capture_line_decodes_without_rejection_to_the_right_values(
        decoder: Decoder, name: str, line: int, record: dict[str, Any]) -> None:
    got = decoder.decode(_raw(record))
    assert got.rejections == [] and not got.ignored
    assert got.device == record["topic"].split("/")[0 if name == "shelly.jsonl" else
                                                   2 if name == "native.jsonl" else 1]
    want = CAPTURE_EXPECTED[(name, line)]
    if isinstance(want, dict):
        assert values(got) == want
        # bool stays bool, numbers stay numbers (True == 1 would hide a mix-up)
        assert {k: type(v) for k, v in values(got).items()} == {k: type(v) for k, v in want.items()}
    elif want[0] == "online":
        assert got.availability is not None and got.availability.online is want[1]
        assert got.readings == []
    else:
        assert [t.tag for t in got.taps] == [want[1]]


def test_capture_profiles_are_named(decoder: Decoder) -> None:
    by_file = {"zigbee2mqtt.jsonl": "zigbee2mqtt", "tasmota.jsonl": "tasmota",
               "shelly.jsonl": "shelly_gen2", "native.jsonl": "sitegate_native"}
    for name, _, record in _capture_lines():
        assert decoder.decode(_raw(record)).profile == by_file[name]


def test_zigbee_contact_true_means_the_door_is_closed(decoder: Decoder) -> None:
    got = decoder.decode(msg("zigbee2mqtt/B3-firedoor-2F", {"contact": True}))
    assert values(got) == {"door_open": False}


def test_zigbee_battery_voltage_is_millivolts_but_plug_voltage_is_volts(decoder: Decoder) -> None:
    assert values(decoder.decode(msg("zigbee2mqtt/x", {"battery": 50, "voltage": 3010})))["voltage_v"] == 3.01
    assert values(decoder.decode(msg("zigbee2mqtt/plug", {"voltage": 231.5}))) == {"voltage_v": 231.5}


def test_zigbee_1x_illuminance_lux_wins_over_raw_illuminance(decoder: Decoder) -> None:
    got = decoder.decode(msg("zigbee2mqtt/lux", {"illuminance": 17609, "illuminance_lux": 58}))
    assert values(got) == {"illuminance_lux": 58}


def test_readings_carry_unit_device_and_time(decoder: Decoder) -> None:
    got = decoder.decode(msg("zigbee2mqtt/B3-stair-smoke", {"voltage": 3010, "battery": 97}))
    units = {r.metric: r.unit for r in got.readings}
    assert units == {"voltage_v": "V", "battery_pct": "%"}
    assert {r.device for r in got.readings} == {"B3-stair-smoke"}
    assert {r.ts for r in got.readings} == {NOW}


# -- device time ----------------------------------------------------------------------------------

def test_tasmota_local_time_is_resolved_in_the_site_time_zone(decoder: Decoder) -> None:
    arrived = datetime(2026, 11, 20, 10, 10, 7, tzinfo=UTC)
    payload = '{"Time":"2026-11-20T18:10:05","POWER":"ON"}'
    got = decoder.decode(msg("tele/lamp-path-07/STATE", payload, arrived))
    [reading] = got.readings
    assert reading.ts == datetime(2026, 11, 20, 10, 10, 5, tzinfo=UTC)
    assert reading.ts.utcoffset() == timedelta(hours=8)


def test_tasmota_without_ntp_keeps_its_data_at_arrival_time(decoder: Decoder) -> None:
    got = decoder.decode(msg("tele/lamp-path-07/STATE", '{"Time":"1970-01-01T00:03:12","POWER":"OFF"}'))
    assert values(got) == {"power_on": False} and got.readings[0].ts == NOW and got.rejections == []


def test_device_time_too_far_in_the_future_falls_back_to_arrival(decoder: Decoder) -> None:
    ahead = (NOW + timedelta(minutes=11)).isoformat()
    got = decoder.decode(msg("sitegate/demo/ext-1/telemetry", {"ts": ahead, "pressure_mpa": 1.2}))
    assert got.readings[0].ts == NOW
    near = (NOW + timedelta(minutes=9)).isoformat()
    got = decoder.decode(msg("sitegate/demo/ext-1/telemetry", {"ts": near, "pressure_mpa": 1.2}))
    assert got.readings[0].ts == NOW + timedelta(minutes=9)


def test_native_epoch_seconds_and_milliseconds_are_both_understood(decoder: Decoder) -> None:
    epoch = NOW.timestamp() - 30
    for ts in (epoch, int(epoch * 1000)):
        got = decoder.decode(msg("sitegate/demo/ext-1/telemetry", {"ts": ts, "pressure_mpa": 1.2}))
        assert got.readings[0].ts == NOW - timedelta(seconds=30)


def test_an_unreadable_reading_time_is_refused_but_the_readings_are_kept(decoder: Decoder) -> None:
    got = decoder.decode(msg("sitegate/demo/ext-1/telemetry", {"ts": "yesterday", "pressure_mpa": 1.2}))
    assert reasons(got) == ["bad_timestamp"] and values(got) == {"pressure_mpa": 1.2}
    assert got.readings[0].ts == NOW and not got.rejected


def test_tap_keeps_the_reader_time_when_plausible(decoder: Decoder) -> None:
    read_at = NOW - timedelta(seconds=3)
    got = decoder.decode(msg("sitegate/demo/cp-1/tap", {"tag": "04A1B2C3", "ts": read_at.isoformat()}))
    [tap] = got.taps
    assert (tap.device, tap.tag, tap.ts, tap.received_at) == ("cp-1", "04A1B2C3", read_at, NOW)


def test_tap_without_time_is_stamped_on_arrival(decoder: Decoder) -> None:
    [tap] = decoder.decode(msg("sitegate/demo/cp-1/tap", {"tag": " G0017 "})).taps
    assert tap.ts == NOW and tap.tag == "G0017"


@pytest.mark.parametrize("offset", [timedelta(minutes=11), -timedelta(days=2, seconds=1)])
def test_tap_with_implausible_reader_time_is_rejected_as_clock_skew(decoder: Decoder,
                                                                    offset: timedelta) -> None:
    got = decoder.decode(msg("sitegate/demo/cp-1/tap", {"tag": "G0017", "ts": (NOW + offset).isoformat()}))
    assert reasons(got) == ["clock_skew"] and got.taps == [] and got.rejected


def test_tap_with_unreadable_time_is_rejected(decoder: Decoder) -> None:
    got = decoder.decode(msg("sitegate/demo/cp-1/tap", {"tag": "G0017", "ts": "25:99"}))
    assert reasons(got) == ["bad_timestamp"] and got.taps == []


def test_naive_arrival_time_is_taken_as_utc(decoder: Decoder) -> None:
    got = decoder.decode(RawMessage("sitegate/demo/cp-1/tap", b'{"tag":"A"}', datetime(2026, 1, 1, 12)))
    assert got.taps[0].ts == datetime(2026, 1, 1, 12, tzinfo=UTC)


# -- channels, partial updates, passthrough -------------------------------------------------------

def test_shelly_second_channel_gets_suffixed_metrics(decoder: Decoder) -> None:
    got = decoder.decode(msg("shellypro2pm-hall/status/switch:1", {"output": True, "apower": 12.0}))
    assert values(got) == {"power_on_2": True, "power_w_2": 12.0} and got.device == "shellypro2pm-hall"


def test_shelly_notify_status_emits_only_what_is_present(decoder: Decoder) -> None:
    got = decoder.decode(msg("shellypro2pm-hall/events/rpc", {"method": "NotifyStatus", "params": {
        "ts": NOW.timestamp(), "switch:0": {"id": 0, "output": False},
        "switch:1": {"id": 1, "apower": 3.5}}}))
    assert values(got) == {"power_on": False, "power_w_2": 3.5}
    assert {r.ts for r in got.readings} == {NOW}


def test_tasmota_numbered_relays_give_numbered_power_on(decoder: Decoder) -> None:
    got = decoder.decode(msg("tele/panel/STATE", {"POWER1": "ON", "POWER2": "OFF", "POWER3": "ON"}))
    assert values(got) == {"power_on": True, "power_on_2": False, "power_on_3": True}
    assert values(decoder.decode(msg("stat/panel/POWER3", "OFF"))) == {"power_on_3": False}


def test_native_telemetry_passes_unknown_names_through_and_aliases_battery(decoder: Decoder) -> None:
    got = decoder.decode(msg("sitegate/demo/x/telemetry",
                             {"battery": 87, "firmware": "1.2", "door_open": True, "flow_lpm": 12.5}))
    assert values(got) == {"battery_pct": 87, "firmware": "1.2", "door_open": True, "flow_lpm": 12.5}
    assert {r.metric: r.unit for r in got.readings}["battery_pct"] == "%"


def test_other_sites_traffic_is_unknown_topic_and_says_why(decoder: Decoder) -> None:
    got = decoder.decode(msg("sitegate/other-site/cp-1/tap", {"tag": "A"}))
    assert reasons(got) == ["unknown_topic"] and "other-site" in got.rejections[0].detail


@pytest.mark.parametrize("topic", ["zigbee2mqtt/bridge/state", "zigbee2mqtt/bridge/devices",
                                   "zigbee2mqtt/lamp/set", "cmnd/lamp/POWER", "sitegate/demo/cp-1/ack",
                                   "sitegate/demo/tickets/T-17", "sitegate/demo/emergency/2",
                                   "sitegate/demo/gateway/status", "shellyplus1pm-garage/status/sys"])
def test_known_chatter_and_our_own_topics_are_ignored(decoder: Decoder, topic: str) -> None:
    got = decoder.decode(msg(topic, b"x" * 100_000))  # even when huge: bridge/devices can be
    assert got.ignored and got.rejections == [] and got.readings == []


def test_subscriptions_cover_every_profile_for_this_site(decoder: Decoder) -> None:
    subs = decoder.subscriptions()
    for expected in ("zigbee2mqtt/#", "tele/+/SENSOR", "tele/+/LWT",
                     "stat/+/POWER", "stat/+/POWER2", "stat/+/RESULT", "+/status/+", "+/events/rpc",
                     "+/online",
                     "sitegate/demo/+/telemetry", "sitegate/demo/+/status", "sitegate/demo/+/tap"):
        assert expected in subs
    assert len(subs) == len(set(subs))


def test_a_site_id_that_breaks_topics_is_refused(profiles: list[Profile]) -> None:
    with pytest.raises(ValueError, match="cannot be used in MQTT topics"):
        Decoder(profiles, site_id="a/b", tz=UTC)


# -- every rejection reason ------------------------------------------------------------------------

REASON_CASES: dict[str, tuple[str, bytes]] = {
    "oversize": ("zigbee2mqtt/x", b'{"battery":' + b" " * 70_000 + b"1}"),
    "topic_too_long": ("zigbee2mqtt/" + "x" * 300, b"{}"),
    "not_utf8": ("zigbee2mqtt/x", b"\xff\xfe\x00junk"),
    "invalid_json": ("zigbee2mqtt/x", b'{"battery": 9'),
    "unknown_topic": ("some/other/system", b"{}"),
    "wrong_type": ("zigbee2mqtt/x", b"[1, 2, 3]"),
    "non_finite": ("zigbee2mqtt/x", b'{"temperature": NaN}'),
    "out_of_range": ("zigbee2mqtt/x", b'{"battery": 250}'),
    "bad_timestamp": ("sitegate/demo/cp-1/tap", b'{"tag": "A", "ts": [1]}'),
    "clock_skew": ("sitegate/demo/cp-1/tap", b'{"tag": "A", "ts": "2000-01-01T00:00:00+00:00"}'),
    "empty_payload": ("zigbee2mqtt/x", b""),
    "missing_field": ("sitegate/demo/cp-1/tap", b'{"ts": "2026-11-20T18:10:00+08:00"}'),
}


def test_every_reason_has_a_case() -> None:
    assert set(REASON_CASES) == set(REASONS) - {"decode_error"}


@pytest.mark.parametrize("reason", sorted(REASON_CASES))
def test_each_reason_is_reported_and_nothing_usable_means_rejected(decoder: Decoder, reason: str) -> None:
    topic, payload = REASON_CASES[reason]
    got = decoder.decode(msg(topic, payload))
    assert reasons(got) == [reason] and got.rejected
    assert got.readings == [] and got.taps == [] and got.availability is None


@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"battery": 250, "linkquality": 80}', "out_of_range"),
    (b'{"battery": "full", "linkquality": 80}', "wrong_type"),
    (b'{"battery": NaN, "linkquality": 80}', "non_finite"),
    (b'{"battery": -Infinity, "linkquality": 80}', "non_finite"),
    (b'{"battery": 1e308, "linkquality": 80}', "out_of_range"),
    (b'{"battery": {"level": 3}, "linkquality": 80}', "wrong_type"),
    (b'{"smoke": "yes", "linkquality": 80}', "wrong_type"),
    (b'{"smoke": 1, "linkquality": 80}', "wrong_type"),
])
def test_field_level_problem_drops_only_that_field(decoder: Decoder, payload: bytes, reason: str) -> None:
    got = decoder.decode(msg("zigbee2mqtt/x", payload))
    assert reasons(got) == [reason] and values(got) == {"signal": 80} and not got.rejected


def test_binary_junk_on_a_text_topic_is_not_utf8(decoder: Decoder) -> None:
    assert reasons(decoder.decode(msg("stat/lamp/POWER", b"\x80\x81"))) == ["not_utf8"]
    assert reasons(decoder.decode(msg("tele/lamp/LWT", b"\x80\x81"))) == ["not_utf8"]


def test_unknown_availability_word_is_refused(decoder: Decoder) -> None:
    assert reasons(decoder.decode(msg("tele/lamp/LWT", "Rebooting"))) == ["out_of_range"]
    got = decoder.decode(msg("zigbee2mqtt/x/availability", {"status": "online"}))
    assert reasons(got) == ["missing_field"]


def test_empty_native_telemetry_is_missing_field(decoder: Decoder) -> None:
    got = decoder.decode(msg("sitegate/demo/x/telemetry", {"ts": NOW.isoformat()}))
    assert reasons(got) == ["missing_field"]


def test_passthrough_refuses_names_that_cannot_be_metrics(decoder: Decoder) -> None:
    got = decoder.decode(msg("sitegate/demo/x/telemetry", {"Bad Name!": 1, "pressure_mpa": 1.0,
                                                           "nested": {"a": 1}}))
    assert reasons(got) == ["wrong_type", "wrong_type"] and values(got) == {"pressure_mpa": 1.0}


def test_too_many_array_channels_are_refused(decoder: Decoder) -> None:
    got = decoder.decode(msg("tele/x/SENSOR", {"ENERGY": {"Power": list(range(100)), "Voltage": 230}}))
    assert reasons(got) == ["out_of_range"] and values(got) == {"voltage_v": 230}


def test_tap_tag_must_be_printable_text(decoder: Decoder) -> None:
    assert reasons(decoder.decode(msg("sitegate/demo/cp-1/tap", {"tag": 1234}))) == ["wrong_type"]
    assert reasons(decoder.decode(msg("sitegate/demo/cp-1/tap", {"tag": "  "}))) == ["missing_field"]
    assert reasons(decoder.decode(msg("sitegate/demo/cp-1/tap", {"tag": "a\x00b"}))) == ["out_of_range"]


def test_capture_times_use_device_clock_when_plausible_else_arrival(decoder: Decoder) -> None:
    lines = {(f, n): r for f, n, r in _capture_lines()}
    tasmota = decoder.decode(_raw(lines[("tasmota.jsonl", 2)]))
    assert {r.ts for r in tasmota.readings} == {datetime(2026, 11, 20, 18, 10, 5, tzinfo=SHANGHAI)}
    # The capture's params.ts (1763634601.12) is November 2025, a year before it arrived: arrival wins.
    shelly = decoder.decode(_raw(lines[("shelly.jsonl", 3)]))
    assert {r.ts for r in shelly.readings} == {datetime.fromisoformat("2026-11-20T18:30:01+08:00")}
    tap = decoder.decode(_raw(lines[("native.jsonl", 2)])).taps[0]
    assert tap.ts == datetime.fromisoformat("2026-11-20T22:06:40+08:00")
    assert tap.received_at == datetime.fromisoformat("2026-11-20T22:06:41+08:00")


def test_text_payload_numbers_are_parsed_and_checked(tmp_path: Path) -> None:
    (tmp_path / "meter.yaml").write_text(
        "name: meter\necosystem: Test\nmessages:\n"
        "  - topic: meter/{device}/kw\n    format: text\n    fields:\n"
        "      - {metric: power_w, scale: 1000}\n", encoding="utf-8")
    dec = Decoder(load_profiles([tmp_path]), site_id="demo", tz=UTC)
    assert values(dec.decode(msg("meter/m1/kw", " 1.25\n"))) == {"power_w": 1250.0}
    assert values(dec.decode(msg("meter/m1/kw", "3"))) == {"power_w": 3000}
    assert reasons(dec.decode(msg("meter/m1/kw", "nan"))) == ["non_finite"]
    assert reasons(dec.decode(msg("meter/m1/kw", "2e9"))) == ["out_of_range"]
    assert reasons(dec.decode(msg("meter/m1/kw", "lots"))) == ["wrong_type"]


def test_a_profile_can_add_a_metric_outside_the_vocabulary(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(
        "name: flow\necosystem: Test\nmessages:\n"
        "  - topic: flow/{device}\n    fields:\n"
        "      - {path: f, metric: flow_lpm, type: number, unit: L/min}\n"
        "      - {path: s, metric: status_text, type: string}\n", encoding="utf-8")
    dec = Decoder(load_profiles([tmp_path]), site_id="demo", tz=UTC)
    got = dec.decode(msg("flow/p1", {"f": 12.5, "s": "ok"}))
    assert [(r.metric, r.value, r.unit) for r in got.readings] == [("flow_lpm", 12.5, "L/min"),
                                                                  ("status_text", "ok", None)]
    assert reasons(dec.decode(msg("flow/p1", {"f": "fast", "s": 3}))) == ["wrong_type", "wrong_type"]


# -- friendly names with '/', topic roots a site sets, kinds a device declares --------------------

def test_a_zigbee_friendly_name_with_slashes_is_decoded_under_a_dotted_device_id(decoder: Decoder) -> None:
    # Sites group Zigbee2MQTT devices by building and floor: B3/2F/smoke. The device id cannot hold
    # '/', so each '/' of the name becomes '.' (documented in devices/README.md).
    got = decoder.decode(msg("zigbee2mqtt/B3/2F/smoke", {"smoke": True, "battery": 91}))
    assert got.rejections == [] and got.device == "B3.2F.smoke"
    assert values(got) == {"smoke": True, "battery_pct": 91}
    assert {r.device for r in got.readings} == {"B3.2F.smoke"}
    offline = decoder.decode(msg("zigbee2mqtt/B3/2F/smoke/availability", {"state": "offline"}))
    assert offline.device == "B3.2F.smoke"
    assert offline.availability is not None and offline.availability.online is False
    legacy = decoder.decode(msg("zigbee2mqtt/B3/2F/smoke/availability", "online"))
    assert legacy.availability is not None and legacy.availability.online is True


@pytest.mark.parametrize("topic", ["zigbee2mqtt/B3/2F/smoke/set", "zigbee2mqtt/B3/2F/smoke/set/state",
                                   "zigbee2mqtt/B3/2F/smoke/get", "zigbee2mqtt/bridge/devices",
                                   "zigbee2mqtt/bridge/event", "zigbee2mqtt/bridge/response/device/rename"])
def test_commands_to_slash_named_devices_and_bridge_topics_are_ignored_not_taken_as_devices(
        decoder: Decoder, topic: str) -> None:
    got = decoder.decode(msg(topic, {"state": "ON"}))
    # A command is not a sign of life of the device: no device is named, so none is discovered.
    assert got.ignored and got.device is None and got.rejections == []


def test_subscriptions_receive_slash_named_zigbee_devices(decoder: Decoder) -> None:
    subs = decoder.subscriptions()
    assert "zigbee2mqtt/#" in subs
    assert "zigbee2mqtt/+" not in subs and "zigbee2mqtt/+/availability" not in subs  # covered by '#'


def test_a_site_sets_the_zigbee2mqtt_base_topic_once_for_decoding_ignoring_and_subscribing(
        profiles: list[Profile]) -> None:
    dec = Decoder(profiles, site_id="demo", tz=SHANGHAI, params={"zigbee2mqtt": {"base_topic": "z2m/b3"}})
    got = dec.decode(msg("z2m/b3/2F/smoke", {"smoke": False}))
    assert got.profile == "zigbee2mqtt" and got.device == "2F.smoke" and values(got) == {"smoke": False}
    assert dec.decode(msg("z2m/b3/bridge/state", {"state": "online"})).ignored
    assert dec.decode(msg("z2m/b3/2F/smoke/availability", "offline")).availability is not None
    assert "z2m/b3/#" in dec.subscriptions() and not any(s.startswith("zigbee2mqtt") for s in dec.subscriptions())
    assert reasons(dec.decode(msg("zigbee2mqtt/smoke-1", {"smoke": False}))) == ["unknown_topic"]


def test_tasmota_prefixes_and_a_shelly_topic_root_are_site_settings_too(profiles: list[Profile]) -> None:
    # Tasmota's Prefix1-3 (cmnd/stat/tele) may hold levels (FullTopic %prefix%/tasmota/%topic%/ is
    # tele: tele/tasmota); Shelly devices whose topic_prefix is shellies/<id> set the root once.
    dec = Decoder(profiles, site_id="demo", tz=SHANGHAI,
                  params={"tasmota": {"tele": "tele/tasmota", "stat": "stat/tasmota", "cmnd": "cmnd/tasmota"},
                          "shelly_gen2": {"root": "shellies"}})
    assert values(dec.decode(msg("tele/tasmota/lamp-1/SENSOR", {"ENERGY": {"Current": 0.2}}))) == {"current_a": 0.2}
    assert values(dec.decode(msg("stat/tasmota/lamp-1/POWER", "ON"))) == {"power_on": True}
    assert dec.decode(msg("cmnd/tasmota/lamp-1/POWER", "ON")).ignored
    got = dec.decode(msg("shellies/garage/status/switch:0", {"output": True}))
    assert (got.device, values(got)) == ("garage", {"power_on": True})
    subs = dec.subscriptions()
    assert {"tele/tasmota/+/SENSOR", "stat/tasmota/+/POWER", "shellies/+/online", "shellies/+/status/+"} <= set(subs)
    assert "+/online" not in subs  # a root means the gateway no longer listens to every X/online


def test_a_zigbee2mqtt_model_that_has_one_use_declares_the_kind(decoder: Decoder) -> None:
    # With include_device_information, Zigbee2MQTT adds the device's model to every state message.
    got = decoder.decode(msg("zigbee2mqtt/B3/2F/smoke", {"smoke": False, "device": {
        "friendlyName": "B3/2F/smoke", "model": "JTYJ-GD-01LM/BW", "ieeeAddr": "0x00158d0001a2b3c4"}}))
    assert (got.model, got.kind) == ("JTYJ-GD-01LM/BW", "smoke_detector")
    # A door contact is on any kind of door: its model names no kind, only the model is kept.
    door = decoder.decode(msg("zigbee2mqtt/B3/2F/door", {"contact": True, "device": {"model": "MCCGQ11LM"}}))
    assert (door.model, door.kind) == ("MCCGQ11LM", None)
    assert decoder.decode(msg("zigbee2mqtt/plain", {"smoke": False})).kind is None


def test_native_telemetry_may_declare_its_kind_and_kind_is_not_a_metric(decoder: Decoder) -> None:
    got = decoder.decode(msg("sitegate/demo/ring-pt-3/telemetry", {"kind": "hydrant", "pressure_mpa": 0.28}))
    assert got.kind == "hydrant" and values(got) == {"pressure_mpa": 0.28} and got.rejections == []
    bad = decoder.decode(msg("sitegate/demo/ring-pt-3/telemetry", {"kind": "Fire Hose!", "pressure_mpa": 0.28}))
    assert bad.kind is None and values(bad) == {"pressure_mpa": 0.28} and reasons(bad) == ["wrong_type"]
