"""The Decoder's caches (topics, device times, passthrough names) and fast paths change nothing but speed,
and stay bounded whatever arrives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.model import RawMessage, Reading
from gateway.devices import decoder as decoder_module
from gateway.devices.decoder import MAX_NAMES, TIME_CACHE_SIZE, Decoder
from gateway.devices.loader import load_profiles

DEVICES = Path(__file__).resolve().parent.parent / "devices"
PROFILES = load_profiles([DEVICES])
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decoder(**kw: Any) -> Decoder:
    return Decoder(PROFILES, site_id="demo", tz=SHANGHAI, **kw)


# Levels that make up the profiles' topics, and some that make near misses.
LEVELS = ["zigbee2mqtt", "tele", "stat", "cmnd", "sitegate", "demo", "other", "dev-1", "B3", "2F",
          "SENSOR", "STATE", "LWT", "RESULT", "POWER", "POWER2", "POWER0", "POWER1000", "telemetry", "status",
          "tap", "ack", "availability", "set", "get", "bridge", "online", "events", "rpc", "switch:0",
          "switch:1", "switch:999", "shellyplus1pm-x", "", "+", "#", "x" * 40]
PAYLOADS = [b'{"power": 5, "state": "ON", "battery": 90, "voltage": 3000}', b"ON", b"online", b"", b"{",
            b'{"Time": "2026-11-20T18:00:00", "ENERGY": {"Power": [1, 2]}, "POWER1": "ON"}',
            b'{"tag": "G1", "ts": "2026-11-20T18:00:00+08:00"}', b'{"pressure_mpa": 1.2, "kind": "hydrant"}',
            b'{"state": "offline"}', b'{"output": true, "apower": 3.5}', b"[1]"]
topics = st.lists(st.sampled_from(LEVELS), min_size=1, max_size=6).map("/".join)


@FUZZ
@given(cases=st.lists(st.tuples(topics, st.sampled_from(PAYLOADS)), min_size=1, max_size=20))
def test_the_topic_cache_answers_as_no_cache_does(cases: list[tuple[str, bytes]]) -> None:
    plain, cached, tiny = _decoder(topic_cache_size=0), _decoder(), _decoder(topic_cache_size=3)
    for _ in range(2):  # the second time from the cache
        for topic, payload in cases:
            want = plain.decode(RawMessage(topic, payload, NOW))
            assert cached.decode(RawMessage(topic, payload, NOW)) == want
            assert tiny.decode(RawMessage(topic, payload, NOW)) == want
    assert plain._topics == {}
    assert len(tiny._topics) <= 3


def test_the_topic_cache_holds_its_cap_whatever_topics_arrive() -> None:
    decoder = _decoder(topic_cache_size=100)
    for i in range(1_000):
        for topic in (f"zigbee2mqtt/dev-{i}", f"junk/{i}", f"sitegate/other/{i}/telemetry"):
            decoder.decode(RawMessage(topic, b"{}", NOW))
            assert len(decoder._topics) <= 100
    # And it still decodes (and remembers) after starting over.
    got = decoder.decode(RawMessage("zigbee2mqtt/plug", b'{"power": 5}', NOW))
    assert [(r.device, r.metric, r.value) for r in got.readings] == [("plug", "power_w", 5)]
    assert "zigbee2mqtt/plug" in decoder._topics


def test_messages_on_one_topic_share_one_device_id_string() -> None:
    decoder = _decoder()
    topic = "zigbee2mqtt/B3/2F/smoke"
    first, second = (decoder.decode(RawMessage(topic.encode().decode(), b'{"battery": 90}', NOW)) for _ in range(2))
    assert first.device == "B3.2F.smoke"
    assert first.device is second.device and first.readings[0].device is second.readings[0].device


def test_a_device_has_one_id_string_across_its_topics() -> None:
    decoder = _decoder()
    state = decoder.decode(RawMessage("tele/lamp-path-07/STATE", b'{"POWER": "ON"}', NOW))
    sensor = decoder.decode(RawMessage("tele/lamp-path-07/SENSOR", b'{"ENERGY": {"Power": 5}}', NOW))
    assert state.device == "lamp-path-07" and state.device is sensor.device


def test_a_channel_below_the_first_is_refused_from_the_cache_too() -> None:
    decoder = _decoder()
    for _ in range(2):
        got = decoder.decode(RawMessage("stat/panel/POWER0", b"ON", NOW))
        assert [(r.reason, r.detail) for r in got.rejections] == [
            ("unknown_topic", "channel in 'stat/panel/POWER0' is below the first channel 1")]


def test_device_times_are_remembered_within_a_bound_and_read_as_before() -> None:
    decoder, plain = _decoder(), _decoder()
    start = datetime(2026, 11, 20, 17, 0)
    for i in range(TIME_CACHE_SIZE + 50):
        text = (start + timedelta(seconds=i)).isoformat()
        body = json.dumps({"Time": text, "ENERGY": {"Power": 5}}).encode()
        got = decoder.decode(RawMessage("tele/lamp/SENSOR", body, NOW))
        assert got.readings[0].ts == datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)
        assert len(decoder._times) <= TIME_CACHE_SIZE
    plain._times.clear()
    for text in ("2026-11-20T17:59:59", "2026-11-20T17:59:59+00:00", "not a time", "1970-01-01T00:03:12"):
        body = json.dumps({"Time": text, "POWER": "ON"}).encode()
        for _ in range(2):
            assert decoder.decode(RawMessage("tele/lamp/STATE", body, NOW)) == \
                plain.decode(RawMessage("tele/lamp/STATE", body, NOW))


def _plausible_as_written(decoder: Decoder, when: datetime, received: datetime) -> bool:
    """The plausibility test in its plain form, which _plausible answers faster."""
    try:
        return received - decoder.max_tap_age <= when <= received + decoder.max_clock_skew
    except OverflowError:
        return False


zones = st.sampled_from([UTC, SHANGHAI, ZoneInfo("America/New_York"), timezone(timedelta(hours=-12)),
                         timezone(timedelta(hours=14))])
limits = st.sampled_from([timedelta(0), timedelta(minutes=10), timedelta(days=2), timedelta(days=400),
                          timedelta(days=9000 * 365)])


@FUZZ
@given(when=st.datetimes(timezones=zones), received=st.datetimes(timezones=zones),
       near=st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=3)), age=limits, skew=limits)
def test_plausible_answers_as_the_plain_test(when: datetime, received: datetime, near: timedelta,
                                             age: timedelta, skew: timedelta) -> None:
    decoder = _decoder(max_tap_age=age, max_clock_skew=skew)
    try:
        close = received + near  # a device time near the arrival, where the answer changes
    except OverflowError:
        close = when
    for candidate in (when, close):
        assert decoder._plausible(candidate, received) == _plausible_as_written(decoder, candidate, received)


def _telemetry(decoder: Decoder) -> Any:
    route = decoder._where("sitegate/demo/ext-1/telemetry")[0]
    assert route is not None and route.message is not None
    return route.message


def test_passthrough_names_are_remembered_within_a_bound() -> None:
    decoder, plain = _decoder(), _decoder()
    for i in range(MAX_NAMES + 50):
        body = json.dumps({f"valve_{i}": i, "battery": 80, "Bad-Key": 1, "ts": "x"}).encode()
        got = decoder.decode(RawMessage("sitegate/demo/ext-1/telemetry", body, NOW))
        _telemetry(plain).names.clear()  # `plain` always works its names out afresh
        assert got == plain.decode(RawMessage("sitegate/demo/ext-1/telemetry", body, NOW))
    spec = _telemetry(decoder)
    assert spec.passthrough
    assert len(spec.names) <= MAX_NAMES


def test_readings_built_fast_are_readings() -> None:
    args = ("dev-1", "power_w", 5.0, "W", NOW)
    fast = decoder_module._reading(*args)
    assert type(fast) is Reading and fast == Reading(*args) and hash(fast) == hash(Reading(*args))
    assert repr(fast) == repr(Reading(*args))


def test_unknown_topics_are_refused_with_the_same_words_from_the_cache() -> None:
    decoder = _decoder()
    expected = {
        "sitegate/other-site/ext-1/telemetry":
            "topic 'sitegate/other-site/ext-1/telemetry' is for site 'other-site', but this gateway serves 'demo'",
        "some/other/system": "no device profile knows the topic 'some/other/system'",
    }
    for _ in range(2):
        for topic, detail in expected.items():
            got = decoder.decode(RawMessage(topic, b"{}", NOW))
            assert (got.profile, got.device) == (None, None)
            assert [(r.reason, r.detail) for r in got.rejections] == [("unknown_topic", detail)]


def test_a_gateway_sizes_its_topic_cache_for_an_inventory_larger_than_max_devices(tmp_path: Path) -> None:
    # 40,000 registered devices, ingest.max_devices left at 10,000: the registry takes them all, and
    # the topic cache must hold their topics too, or it starts over every 65,536 topics and misses.
    from gateway.core.siteload import load_site
    from gateway.ingest.gateway import Gateway
    from tests.support.gateway_proc import write_site

    with (tmp_path / "assets.csv").open("w", encoding="utf-8") as f:
        f.write("device_id,kind,zone\n")
        f.writelines(f"ext-{i:06d},extinguisher,z{i % 10}\n" for i in range(40_000))
    site = write_site(tmp_path, site_id="big", mqtt_url="mqtt://127.0.0.1:1", extra="inventory: assets.csv\n")
    gw = Gateway(load_site(site), connect_mqtt=False)
    try:
        assert gw.decoder._topic_cache_size >= 80_000
    finally:
        gw.db.close()
