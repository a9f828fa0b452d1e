"""The Decoder: raw MQTT message -> readings, availability or taps, using the device profiles.

Pure: it takes values (the message, the site id and time zone) and returns values; no I/O, no
clock of its own (time comes from `msg.received_at`). It remembers, within bounds, what repeats from
message to message (each topic's route and device id, device time texts, passthrough key names):
the answers are the same with or without (tests/test_decode_caches.py). It never raises on any payload: every
problem becomes a Rejection with a stable reason label (REASONS), counted in Prometheus.

A message-level problem (unknown topic, oversize, broken JSON...) refuses the whole message; a
field-level problem (one NaN, one absurd value) drops that field and keeps the rest.
Readings carry the device's own time when it sent a plausible one, else the arrival time: a
Tasmota without NTP says 1970, and its data is still good. A tap with an implausible device
time is refused (`clock_skew`), because patrol judges on tap time.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import orjson

from gateway.core.model import Availability, Decoded, RawMessage, Reading, Rejection, Tap, Value
from gateway.devices import vocabulary
from gateway.devices.fields import (
    HOW_CHAN,
    HOW_KEY,
    HOW_TWO,
    HOW_WILD,
    Chan,
    CompiledField,
    Converter,
    compile_path,
    converter_for,
    find,
    infer_converter,
)
from gateway.devices.params import Params, problems, values_for
from gateway.devices.schema import KIND_NAME, MessageSpec, Profile
from gateway.devices.topics import compile_topic, device_id, fill, first_level, spans_levels, subscription_filter

REASONS = (
    "oversize", "topic_too_long", "not_utf8", "invalid_json", "unknown_topic", "wrong_type",
    "non_finite", "out_of_range", "bad_timestamp", "clock_skew", "empty_payload", "missing_field",
    # Never expected: a bug in the decoder caught by the last-resort guard (the fuzz tests assert
    # it never appears).
    "decode_error",
)

MAX_EXPAND = 64  # array items per field; more is not a meter's channels
MAX_TAG_LENGTH = 128
MAX_MODEL_LENGTH = 128
_METRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_EPOCH_MS_ABOVE = 1e11  # "auto" timestamps: larger numbers are milliseconds (1e11 s is year 5138)
# Topics remembered with where they lead (route, device id, channel). A site's devices repeat their
# few topics, so this spares the regexes per message and keeps one device id string per topic.
# Bounded because anyone on the broker can send endless unique topics: when full it starts over
# (cheap, and a flood of junk topics then costs what it cost without the cache). An entry is about
# 200 bytes with its topic (measured: 100,000 native topics, 19 MiB): 65,536 of them about 13 MiB.
# The gateway sizes it to its max_devices (2 topics per device, at least this).
TOPIC_CACHE_SIZE = 65_536
MAX_NAMES = 256  # passthrough keys remembered per message kind with their metric name
TIME_CACHE_SIZE = 4096  # device time texts remembered parsed (they repeat within a second)


class _Message:
    """A MessageSpec compiled for the hot path."""

    __slots__ = ("aliases", "availability", "channel_base", "declared_kind", "fields", "kind", "kind_path",
                 "model_path", "models", "names", "offline", "online", "passthrough", "skip", "tag_path", "text",
                 "ts_form", "ts_key", "ts_path")

    def __init__(self, spec: MessageSpec, profile: Profile) -> None:
        self.kind = ("ignore" if spec.ignore else "availability" if spec.availability
                     else "tap" if spec.tap else "fields")
        self.text = spec.format == "text"
        self.channel_base = spec.channel_base
        self.fields = [CompiledField(f) for f in spec.fields]
        self.passthrough = spec.passthrough
        self.aliases = dict(spec.aliases)
        # Passthrough: keys seen with a valid metric name -> that name (not the skipped keys). Bounded:
        # keys are the sender's choice; when full, other keys are checked each time as before.
        self.names: dict[str, str] = {}
        self.ts_path = compile_path(spec.timestamp.path) if spec.timestamp else None
        # A timestamp at one plain top-level key (Tasmota's Time, native ts): one dict lookup.
        self.ts_key = self.ts_path[0] if self.ts_path and len(self.ts_path) == 1 \
            and type(self.ts_path[0]) is str else None
        self.ts_form = spec.timestamp.form if spec.timestamp else "auto"
        ident = spec.identity
        self.kind_path = compile_path(ident.kind) if ident and ident.kind else None
        self.model_path = compile_path(ident.model) if ident and ident.model else None
        self.models = profile.models
        self.declared_kind = profile.kind
        # Top-level keys that are not metrics in passthrough: the timestamp and what identifies the device.
        self.skip = frozenset(path.split(".")[0] for path in (
            spec.timestamp.path if spec.timestamp else None, ident.kind if ident else None,
            ident.model if ident else None) if path)
        av = spec.availability
        self.availability = compile_path(av.path) if av and av.path else None
        self.online = frozenset(v.lower() for v in av.online) if av else frozenset()
        self.offline = frozenset(v.lower() for v in av.offline) if av else frozenset()
        self.tag_path = compile_path(spec.tap.tag) if spec.tap else None


class _Route:
    __slots__ = ("has_channel", "has_device", "has_site", "levels", "message", "profile", "regex")

    def __init__(self, profile: str, pattern: str, message: _Message | None, *, from_device: bool = True) -> None:
        self.profile = profile
        self.regex = compile_topic(pattern)
        self.message = message  # None: an ignored topic
        self.levels = spans_levels(pattern)  # the name may hold '/': its id joins the levels
        # A profile's `ignore` list is traffic that is not the device speaking (commands to it, bridge
        # chatter): it names no device, so it neither discovers one nor counts as a sign of life.
        self.has_device = from_device and ("{device}" in pattern or self.levels)
        self.has_site = "{site}" in pattern
        self.has_channel = "{channel}" in pattern

    def device(self, m: re.Match[str]) -> str | None:
        """The device id the matched topic names, if the route names one."""
        if not self.has_device:
            return None
        name = m.group("device")
        return device_id(name) if self.levels else name


# What a topic leads to: its route, device id and channel (0 without one; below 0 is refused later,
# after the payload checks), or no route and the foreign site id seen, if any.
_Where = tuple[_Route | None, str | None, int, str | None]


class Decoder:
    def __init__(self, profiles: Sequence[Profile], *, site_id: str, tz: tzinfo,
                 max_payload_bytes: int = 65536, max_topic_length: int = 256,
                 max_clock_skew: timedelta = timedelta(minutes=10),
                 max_tap_age: timedelta = timedelta(days=2), params: Params | None = None,
                 topic_cache_size: int = TOPIC_CACHE_SIZE) -> None:
        """`params`: the site's topic parameters by profile (devices.params), over the profiles' defaults.
        `topic_cache_size`: topics remembered with their route (0: none)."""
        if not site_id or any(c in site_id for c in "/+#"):
            raise ValueError(f"Site id '{site_id}' cannot be used in MQTT topics; "
                             "use letters, digits and '-'.")
        params = params or {}
        if wrong := [f"{'.'.join(loc)}: {why}" for loc, why in problems(profiles, params)]:
            raise ValueError("; ".join(wrong))  # the site file is checked with its lines before this
        self.site_id = site_id
        self.tz = tz
        self.max_payload_bytes = max_payload_bytes
        self.max_topic_length = max_topic_length
        self.max_clock_skew = max_clock_skew
        self.max_tap_age = max_tap_age
        # For _plausible: the arrival years in which `received -/+ the limits` cannot overflow.
        margin = max(abs(max_tap_age), abs(max_clock_skew)).days // 365 + 2
        self._safe_years = (1 + margin, 9999 - margin)
        self._min_offset = -max_tap_age
        self._times: dict[str, datetime] = {}  # device time text -> its datetime (TIME_CACHE_SIZE)
        self._profiles = list(profiles)
        self._values = {p.name: values_for(p, params) for p in self._profiles}
        ignores: list[tuple[str, _Route]] = []
        messages: list[tuple[str, _Route]] = []
        for profile in self._profiles:
            values = self._values[profile.name]
            for pattern in profile.ignore:
                pattern = fill(pattern, values)
                ignores.append((pattern, _Route(profile.name, pattern, None, from_device=False)))
            for spec in profile.messages:
                pattern = fill(spec.topic, values)
                route = _Route(profile.name, pattern, None if spec.ignore else _Message(spec, profile))
                messages.append((pattern, route))
        # Routes are indexed by their literal first level; a profile's `ignore` list wins over
        # any message pattern, then messages match in file order. Patterns starting with a
        # placeholder (Shelly's `{device}/...`) are tried after the literal ones.
        self._by_first: dict[str, list[_Route]] = {}
        self._wild: list[_Route] = []
        self._topics: dict[str, _Where] = {}
        self._topic_cache_size = topic_cache_size
        for pattern, route in ignores + messages:
            first = first_level(pattern)
            if first is None:
                self._wild.append(route)
            else:
                self._by_first.setdefault(first, []).append(route)

    def subscriptions(self) -> list[str]:
        """The MQTT topic filters that receive every profile's topics for this site."""
        out: list[str] = []
        for profile in self._profiles:
            values = self._values[profile.name]
            if profile.subscribe is not None:
                filters = [fill(f, values).replace("{site}", self.site_id) for f in profile.subscribe]
            else:
                filters = [subscription_filter(fill(m.topic, values), self.site_id)
                           for m in profile.messages if not m.ignore]
            out.extend(f for f in filters if f not in out)
        return out

    def decode(self, msg: RawMessage) -> Decoded:
        """What `msg` means. Never raises."""
        try:
            return self._decode(msg)
        except Exception as exc:  # a decoder bug must not stop ingest; it is counted and kept
            return _reject(None, None, "decode_error", f"decoder failed on topic {msg.topic[:100]!r}: "
                           f"{type(exc).__name__}: {exc}")

    # -- routing -------------------------------------------------------------------------------

    def _where(self, topic: str) -> _Where:
        """Where `topic` leads, from the topic cache or worked out (and remembered)."""
        where = self._topics.get(topic)
        if where is None:
            where = self._resolve(topic)
            if len(self._topics) >= self._topic_cache_size:
                self._topics.clear()  # a cap of 0 keeps it empty
                if self._topic_cache_size <= 0:
                    return where
            self._topics[topic] = where
        return where

    def _resolve(self, topic: str) -> _Where:
        route, m, foreign = self._route(topic)
        if route is None or m is None:
            return None, None, 0, foreign
        device = route.device(m)
        if device is not None:
            # One string per device id, across its topics too (tele/x/STATE and tele/x/SENSOR): the
            # readings, the registry and the rules' state then share it.
            device = sys.intern(device)
        channel = 0
        if route.has_channel and route.message is not None:
            channel = int(m.group("channel")) - route.message.channel_base
        return route, device, channel, None

    def _route(self, topic: str) -> tuple[_Route | None, re.Match[str] | None, str | None]:
        """The first matching route and its match; or the foreign site id seen, for the message."""
        foreign: str | None = None
        first = topic.split("/", 1)[0]
        for routes in (self._by_first.get(first, ()), self._wild):
            for route in routes:
                m = route.regex.fullmatch(topic)
                if m is None:
                    continue
                if route.has_site and m.group("site") != self.site_id:
                    foreign = m.group("site")
                    continue
                return route, m, foreign
        return None, None, foreign

    def _decode(self, msg: RawMessage) -> Decoded:
        topic = msg.topic
        if len(topic) > self.max_topic_length:
            return _reject(None, None, "topic_too_long", f"topic is {len(topic)} characters, more than "
                           f"the limit of {self.max_topic_length}")
        route, device, channel, foreign = self._where(topic)
        if route is None:
            detail = (f"topic {topic!r} is for site {foreign!r}, but this gateway serves {self.site_id!r}"
                      if foreign is not None else f"no device profile knows the topic {topic!r}")
            return _reject(None, None, "unknown_topic", detail)
        profile = route.profile
        spec = route.message
        if spec is None or spec.kind == "ignore":
            return Decoded(profile=profile, device=device, ignored=True)
        payload = msg.payload
        if len(payload) > self.max_payload_bytes:
            return _reject(profile, device, "oversize", f"payload is {len(payload)} bytes, more than the "
                           f"limit of {self.max_payload_bytes}")
        if not payload or payload.isspace():
            return _reject(profile, device, "empty_payload", f"the payload on {topic!r} is empty")
        received = msg.received_at if msg.received_at.tzinfo is not None \
            else msg.received_at.replace(tzinfo=UTC)
        assert device is not None  # validated: every non-ignored message pattern has {device}
        if channel < 0:  # only a route with {channel} has one
            return _reject(profile, device, "unknown_topic", f"channel in {topic!r} is below the first "
                           f"channel {spec.channel_base}")
        if spec.kind == "availability":
            said = self._availability(profile, device, spec, payload, received)
            said.kind = spec.declared_kind
            return said
        if spec.text:
            try:
                text = payload.decode("utf-8").strip()
            except UnicodeDecodeError:
                return _reject(profile, device, "not_utf8", "the payload is not UTF-8 text")
            out = Decoded(profile=profile, device=device, kind=spec.declared_kind)
            for fld in spec.fields:
                self._emit(out, fld, channel, text, True, received)
            return out
        root = _parse_json(payload)
        if type(root) is Rejection:
            return Decoded(profile=profile, device=device, rejections=[root])
        if type(root) is not dict:
            return _reject(profile, device, "wrong_type",
                           f"expected a JSON object, got {type(root).__name__}")
        out = self._tap(profile, device, spec, root, received) if spec.kind == "tap" \
            else self._fields(profile, device, spec, root, channel, received)
        if spec.model_path is None and spec.kind_path is None:
            out.kind = spec.declared_kind  # what _identify answers then, without the call
        else:
            self._identify(out, spec, root)
        return out

    # -- payload kinds -------------------------------------------------------------------------

    def _fields(self, profile: str, device: str, spec: _Message, root: dict[str, Any], channel: int,
                received: datetime) -> Decoded:
        out = Decoded(profile, device)  # positional: a third cheaper than by keyword
        ts = received
        if spec.ts_path is not None:
            found = self._device_time(root, spec)
            if isinstance(found, Rejection):
                out.rejections.append(found)
            elif found is not None and self._plausible(found, received):
                ts = found
        get = root.get
        readings = out.readings
        blocks: list[dict[str, Any]] | None = None  # the payload's blocks, for HOW_WILD fields
        first: str | None = None  # the first key last read by a HOW_TWO field, and its value
        node: Any = None
        wild_exclude: frozenset[str] | None = None
        for fld in spec.fields:
            how = fld.how
            # Hot path: most fields are plain keys (Zigbee2MQTT's flat state, Tasmota's ENERGY.Power).
            if how <= HOW_TWO:
                if how == HOW_KEY:
                    raw = get(fld.key)  # type: ignore[arg-type]  # HOW_KEY: key is set
                else:
                    if fld.first is not first:
                        first = fld.first
                        node = get(first)
                    raw = node.get(fld.second) if type(node) is dict else None
                if raw is None or (fld.conditional and not fld.applies(root)):
                    continue
                t = type(raw)
                if t is list:
                    self._emit(out, fld, channel, raw, False, ts)
                    continue
                conv = fld.converter
                if (t is float or t is int) and conv.unscaled_number and conv.low <= raw <= conv.high:
                    value = raw  # what conv.convert answers, without the call
                else:
                    value = conv.convert(raw, False)
                    if isinstance(value, Rejection):
                        out.rejections.append(value)
                        continue
                readings.append(_reading(device, fld.name0 if channel == 0 else fld.name(channel), value,
                                         conv.unit, ts))
            elif fld.conditional and not fld.applies(root):
                continue
            elif how == HOW_WILD:
                # `*.Temperature`: one pass over the sensor blocks, shared by the message's `*.x` fields.
                if blocks is None or wild_exclude != fld.wild_exclude:
                    wild_exclude = fld.wild_exclude
                    blocks = [b for k, b in root.items() if type(b) is dict and k not in wild_exclude]
                idx = 0
                tail = fld.second
                for block in blocks:
                    raw = block.get(tail)
                    if raw is not None:
                        self._emit(out, fld, channel + idx, raw, False, ts)
                        idx += 1
            elif how == HOW_CHAN:
                # `POWER{channel}`: what find() collects for it, emitted as it is found.
                chan = fld.paths[0][0]
                assert type(chan) is Chan
                prefix = chan.prefix
                for k, raw in root.items():
                    if raw is not None and k.startswith(prefix):
                        m = chan.regex.fullmatch(k)
                        if m is not None:
                            idx = int(m.group(1)) - chan.base
                            if idx >= 0:
                                self._emit(out, fld, channel + idx, raw, False, ts)
            else:
                for idx, raw in fld.values(root):
                    self._emit(out, fld, channel + idx, raw, False, ts)
        if spec.passthrough:
            self._passthrough(out, spec, root, ts)
        return out

    def _emit(self, out: Decoded, fld: CompiledField, index: int, raw: Any, text: bool, ts: datetime) -> None:
        if type(raw) is list:
            if not fld.expand:
                out.rejections.append(Rejection("wrong_type", f"{fld.converter.metric}: got a list; "
                                                "set expand: true in the profile to read one per channel"))
                return
            if len(raw) > MAX_EXPAND:
                out.rejections.append(Rejection("out_of_range", f"{fld.converter.metric}: {len(raw)} "
                                                f"channels is more than {MAX_EXPAND}"))
                return
            for j, item in enumerate(raw):
                if item is not None:
                    self._emit_one(out, fld.converter, fld.name(index + j), item, text, ts)
            return
        self._emit_one(out, fld.converter, fld.name(index), raw, text, ts)

    def _emit_one(self, out: Decoded, conv: Converter, metric: str, raw: Any, text: bool,
                  ts: datetime) -> None:
        value = conv.convert(raw, text)
        if isinstance(value, Rejection):
            out.rejections.append(value)
        else:
            out.readings.append(_reading(out.device or "", metric, value, conv.unit, ts))

    def _passthrough(self, out: Decoded, spec: _Message, root: dict[str, Any], ts: datetime) -> None:
        emitted = len(out.readings)
        readings = out.readings
        device = out.device or ""
        names = spec.names
        for key, raw in root.items():
            if raw is None:
                continue
            metric = names.get(key)
            if metric is None:
                if key in spec.skip:
                    continue
                metric = spec.aliases.get(key, key)
                if _METRIC_NAME.fullmatch(metric) is None:
                    out.rejections.append(Rejection("wrong_type", f"{_clip(key)!r} is not a metric name; use "
                                                    "lowercase letters, digits and '_'"))
                    continue
                if len(names) < MAX_NAMES:
                    names[key] = metric
            t = type(raw)
            if t is dict or t is list:
                out.rejections.append(Rejection("wrong_type", f"{metric}: expected a number, true/false "
                                                "or text, got a nested value"))
                continue
            conv = _converter(metric, raw)
            value = conv.convert(raw, False)
            if isinstance(value, Rejection):
                out.rejections.append(value)
            else:
                readings.append(_reading(device, metric, value, conv.unit, ts))
        if len(out.readings) == emitted and not out.rejections:
            out.rejections.append(Rejection("missing_field", "the telemetry holds no metric"))

    def _availability(self, profile: str, device: str, spec: _Message, payload: bytes,
                      received: datetime) -> Decoded:
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            return _reject(profile, device, "not_utf8", "the availability payload is not UTF-8 text")
        value: Any = text
        if text[:1] in ("{", '"', "["):
            parsed = _parse_json(payload)
            if type(parsed) is Rejection:
                return Decoded(profile=profile, device=device, rejections=[parsed])
            value = parsed
            if type(parsed) is dict:
                if spec.availability is None:
                    return _reject(profile, device, "wrong_type", "expected a plain online/offline payload")
                found: list[tuple[int, Any]] = []
                find(parsed, spec.availability, found)
                if not found:
                    return _reject(profile, device, "missing_field", "the availability payload has no state")
                value = found[0][1]
        if type(value) is bool:
            value = "true" if value else "false"
        if type(value) is not str:
            return _reject(profile, device, "wrong_type",
                           f"availability must be text, got {_clip(repr(value))}")
        word = value.lower()
        if word in spec.online:
            return Decoded(profile=profile, device=device, availability=Availability(device, True, received))
        if word in spec.offline:
            return Decoded(profile=profile, device=device, availability=Availability(device, False, received))
        return _reject(profile, device, "out_of_range", f"availability {_clip(value)!r} is neither online "
                       f"({', '.join(sorted(spec.online))}) nor offline ({', '.join(sorted(spec.offline))})")

    def _tap(self, profile: str, device: str, spec: _Message, root: dict[str, Any],
             received: datetime) -> Decoded:
        assert spec.tag_path is not None
        found: list[tuple[int, Any]] = []
        find(root, spec.tag_path, found)
        if not found:
            return _reject(profile, device, "missing_field", "the tap has no tag")
        tag = found[0][1]
        if type(tag) is not str:
            return _reject(profile, device, "wrong_type", f"the tag must be text, got {_clip(repr(tag))}")
        tag = tag.strip()
        if not tag:
            return _reject(profile, device, "missing_field", "the tag is empty")
        if len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
            return _reject(profile, device, "out_of_range", "the tag is too long or holds control characters")
        ts = received
        if spec.ts_path is not None:
            when = self._device_time(root, spec)
            if isinstance(when, Rejection):
                return Decoded(profile=profile, device=device, rejections=[when])
            if when is not None:
                if not self._plausible(when, received):
                    return _reject(profile, device, "clock_skew", f"tap time {when} is too far from "
                                   f"arrival {received.isoformat()}; check the reader's clock")
                ts = when
        return Decoded(profile=profile, device=device, taps=[Tap(device, tag, ts, received)])

    def _identify(self, out: Decoded, spec: _Message, root: dict[str, Any]) -> None:
        """What the device says it is: a kind in its payload, else its model's kind, else its profile's."""
        kind = spec.declared_kind
        if spec.model_path is not None:
            found: list[tuple[int, Any]] = []
            find(root, spec.model_path, found)
            model = found[0][1] if found else None
            if type(model) is str and 0 < len(model) <= MAX_MODEL_LENGTH and model.isprintable():
                out.model = model
                kind = spec.models.get(model, kind)
            elif model is not None:
                out.rejections.append(Rejection("wrong_type", f"model {_clip(repr(model))} is not a model id"))
        if spec.kind_path is not None:
            found = []
            find(root, spec.kind_path, found)
            said = found[0][1] if found else None
            if type(said) is str and KIND_NAME.match(said):
                kind = said
            elif said is not None:
                out.rejections.append(Rejection("wrong_type", f"kind {_clip(repr(said))} is not a kind name; use "
                                                "lowercase letters, digits and '_' (e.g. hydrant)"))
        out.kind = kind

    # -- time ----------------------------------------------------------------------------------

    def _device_time(self, root: dict[str, Any], spec: _Message) -> datetime | Rejection | None:
        if spec.ts_key is not None:
            raw = root.get(spec.ts_key)
            if raw is None:
                return None
        else:
            assert spec.ts_path is not None
            found: list[tuple[int, Any]] = []
            find(root, spec.ts_path, found)
            if not found:
                return None
            raw = found[0][1]
        form = spec.ts_form
        t = type(raw)
        try:
            if t is str and form in ("iso", "auto"):
                # Devices that share a clock send the same text within a second (Tasmota's Time).
                when = self._times.get(raw)
                if when is None:
                    when = datetime.fromisoformat(raw)
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=self.tz)
                    if len(self._times) >= TIME_CACHE_SIZE:
                        self._times.clear()
                    self._times[raw] = when
                return when
            if (t is int or t is float) and form != "iso":
                millis = form == "epoch_ms" or (form == "auto" and raw > _EPOCH_MS_ABOVE)
                seconds = raw / 1000 if millis else raw
                if math.isfinite(seconds):
                    return datetime.fromtimestamp(seconds, UTC)
        except (ValueError, OverflowError, OSError):
            pass
        return Rejection("bad_timestamp", f"device time {_clip(repr(raw))} is not a {form} timestamp")

    def _plausible(self, when: datetime, received: datetime) -> bool:
        lo, hi = self._safe_years
        if lo <= received.year <= hi:
            # The same test as below in one subtraction (a third of the time): its bounds cannot
            # overflow in these years.
            return self._min_offset <= when - received <= self.max_clock_skew
        try:
            return received - self.max_tap_age <= when <= received + self.max_clock_skew
        except OverflowError:
            return False


def _fast_reading() -> Callable[[str, str, Value, str | None, datetime], Reading]:
    """A Reading constructor that fills the slots directly: a frozen dataclass's __init__ goes through
    object.__setattr__ per field, which is about half the cost of a reading here. Used only while
    Reading is exactly the plain frozen, slotted record it is now (else: Reading itself)."""
    names = ("device", "metric", "value", "unit", "ts")
    if tuple(Reading.__dataclass_fields__) != names or hasattr(Reading, "__post_init__") \
            or Reading.__slots__ != names:
        return Reading
    new = object.__new__
    set_device, set_metric, set_value, set_unit, set_ts = (getattr(Reading, n).__set__ for n in names)

    def reading(device: str, metric: str, value: Value, unit: str | None, ts: datetime) -> Reading:
        r = new(Reading)
        set_device(r, device)
        set_metric(r, metric)
        set_value(r, value)
        set_unit(r, unit)
        set_ts(r, ts)
        return r

    return reading


_reading = _fast_reading()


_CONVERTERS: dict[str, Converter] = {}


def _converter(metric: str, raw: Any) -> Converter:
    """Passthrough converters: vocabulary names are cached, other names typed by their value."""
    conv = _CONVERTERS.get(metric)
    if conv is not None:
        return conv
    if vocabulary.lookup(metric) is None:
        return infer_converter(metric, raw)
    conv = converter_for(metric)
    if len(_CONVERTERS) < 1024:
        _CONVERTERS[metric] = conv
    return conv


def _parse_json(payload: bytes) -> Any:
    """orjson, with two slow paths only for bad input: bare NaN/Infinity (some firmware writes
    them; the field is then refused as non_finite, the rest kept) and telling bad UTF-8 apart."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection("not_utf8", "the payload is not UTF-8 text")
    if "NaN" in text or "Infinity" in text:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    return Rejection("invalid_json", f"the payload is not valid JSON: {_clip(text)!r}")


def _reject(profile: str | None, device: str | None, reason: str, detail: str) -> Decoded:
    return Decoded(profile=profile, device=device, rejections=[Rejection(reason, detail)])


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
