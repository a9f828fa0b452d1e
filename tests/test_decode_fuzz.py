"""Decoding never raises and never lets a bad value through, whatever arrives on any profile topic."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.model import Decoded, RawMessage
from gateway.devices import vocabulary
from gateway.devices.decoder import REASONS, Decoder
from gateway.devices.loader import load_profiles
from gateway.devices.schema import Profile
from gateway.devices.topics import fill

DEVICES = Path(__file__).resolve().parent.parent / "devices"
PROFILES = load_profiles([DEVICES])
DECODER = Decoder(PROFILES, site_id="demo", tz=ZoneInfo("Asia/Shanghai"))
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _concrete(profile: Profile, pattern: str) -> str:
    topic = fill(pattern, profile.params).replace("{site}", "demo").replace("{device...}", "b3/dev-1")
    topic = topic.replace("{device}", "dev-1").replace("{channel}", "1")
    return "/".join("x" if level == "+" else level for level in topic.removesuffix("/#").split("/"))


# Every topic a profile decodes (or ignores), so payload fuzzing reaches every message kind.
TOPICS = sorted({_concrete(p, m.topic) for p in PROFILES for m in p.messages})
# Keys the profiles look for, so random JSON objects hit the field mappings, not only misses.
KEYS = sorted({key for p in PROFILES for m in p.messages for f in m.fields
               for path in (f.path if isinstance(f.path, list) else [f.path or ""])
               for key in re.sub(r"\{channel\}", "1", path).split(".") if key and key != "*"}
              | {"ts", "tag", "state", "Time", "params", "switch:0", "switch:1", "POWER", "battery"})


def test_every_fuzzed_topic_is_one_a_profile_knows() -> None:
    # Otherwise payload fuzzing would only ever meet unknown_topic, and prove nothing.
    unknown = [t for t in TOPICS if "unknown_topic" in
               [r.reason for r in DECODER.decode(RawMessage(t, b"{}", NOW)).rejections]]
    assert unknown == []


scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                    st.sampled_from(["ON", "OFF", "online", "Offline", "2026-11-20T18:00:00",
                                     "2026-11-20T18:00:00+08:00", "1970-01-01T00:00:00"]))
json_trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)),
                                               children, max_size=6)),
    max_leaves=25)


# (topic, path) for every field mapping, to build payloads that put random values exactly where
# a profile reads them.
MAPPED = sorted({(_concrete(p, m.topic), path) for p in PROFILES for m in p.messages for f in m.fields
                 for path in (f.path if isinstance(f.path, list) else [f.path]) if path}
                | {("sitegate/demo/dev-1/telemetry", name) for name in vocabulary.METRICS})


def _nest(path: str, leaf: Any) -> Any:
    for key in reversed(path.replace("*", "DS18B20").replace("{channel}", "1").split(".")):
        leaf = {key: leaf}
    return leaf


def check(decoded: Decoded) -> None:
    """The properties every decode result must have."""
    for rejection in decoded.rejections:
        assert rejection.reason in REASONS and rejection.reason != "decode_error", rejection
    for reading in decoded.readings:
        value = reading.value
        known = vocabulary.lookup(reading.metric)
        if isinstance(value, float):
            assert math.isfinite(value), reading
        if known is not None:
            if known.type == "bool":
                assert isinstance(value, bool), reading
            elif known.type == "number":
                assert isinstance(value, int | float) and not isinstance(value, bool), reading
                assert known.low is not None and known.high is not None
                assert known.low <= value <= known.high, reading
        assert reading.ts.tzinfo is not None
        assert NOW - timedelta(days=2) <= reading.ts <= NOW + timedelta(minutes=10), reading
    for tap in decoded.taps:
        assert tap.tag and tap.tag.isprintable()
        assert NOW - timedelta(days=2) <= tap.ts <= NOW + timedelta(minutes=10)


@FUZZ
@given(topic=st.sampled_from(TOPICS), payload=st.binary(max_size=300))
def test_random_bytes_on_every_profile_topic_never_break_decoding(topic: str, payload: bytes) -> None:
    check(DECODER.decode(RawMessage(topic, payload, NOW)))


@FUZZ
@given(topic=st.sampled_from(TOPICS), tree=json_trees)
def test_random_json_on_every_profile_topic_gives_only_sane_readings(topic: str, tree: Any) -> None:
    payload = json.dumps(tree).encode()
    check(DECODER.decode(RawMessage(topic, payload, NOW)))


@FUZZ
@given(case=st.sampled_from(MAPPED), leaf=st.one_of(scalars, st.lists(scalars, max_size=4)),
       other=st.dictionaries(st.sampled_from(KEYS), scalars, max_size=4))
def test_random_values_where_profiles_read_them_give_only_sane_readings(
        case: tuple[str, str], leaf: Any, other: dict[str, Any]) -> None:
    topic, path = case
    payload = {**other, **_nest(path, leaf)}
    check(DECODER.decode(RawMessage(topic, json.dumps(payload).encode(), NOW)))


@FUZZ
@given(topic=st.sampled_from(TOPICS), obj=st.dictionaries(st.sampled_from(KEYS), json_trees, max_size=8),
       spice=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "nan", "\"\\ud800\""]))
def test_non_finite_numbers_inside_objects_never_become_readings(topic: str, obj: dict[str, Any],
                                                                 spice: str) -> None:
    body = json.dumps(obj)
    payload = (body[:-1] + ("," if obj else "") + f'"battery": {spice}}}').encode()
    check(DECODER.decode(RawMessage(topic, payload, NOW)))


@FUZZ
@given(topic=st.text(max_size=300), payload=st.binary(max_size=50),
       received=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                             timezones=st.sampled_from([UTC, ZoneInfo("Asia/Shanghai")])))
def test_random_topics_and_arrival_times_never_break_decoding(topic: str, payload: bytes,
                                                              received: datetime) -> None:
    decoded = DECODER.decode(RawMessage(topic, payload, received))
    for rejection in decoded.rejections:
        assert rejection.reason in REASONS and rejection.reason != "decode_error", rejection


@FUZZ
@given(ts=st.one_of(st.floats(allow_nan=True), st.integers(min_value=-(2**80), max_value=2**80),
                    st.text(max_size=30), st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)))
def test_any_device_time_either_stamps_plausibly_or_is_refused(ts: Any) -> None:
    for topic in ("sitegate/demo/x/tap", "sitegate/demo/x/telemetry", "tele/x/SENSOR"):
        body = {"tag": "A", "ts": ts, "pressure_mpa": 1.0, "Time": ts, "ENERGY": {"Power": 5}}
        check(DECODER.decode(RawMessage(topic, json.dumps(body).encode(), NOW)))
