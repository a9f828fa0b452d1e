"""Device profiles: the schema of `devices/*.yaml` (loading them is `loader.py`).

A profile is data (see devices/README.md): which topics an ecosystem uses, how its payload fields
map onto the canonical vocabulary, how it says online/offline, and sample payloads with the
readings they must give. Pydantic checks the shape; `semantic_problems` checks what pydantic
cannot (topic pattern syntax, metric names against the vocabulary, value maps); the loader then
decodes every sample, so `sitegate check` proves each profile does what its own examples say.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, PrivateAttr

from gateway.core.errors import Problem
from gateway.core.validation import Strict
from gateway.core.yamlsource import LineMap
from gateway.devices import vocabulary
from gateway.devices.topics import DEVICE_LEVELS, PLACEHOLDERS, param_value_problem, pattern_problem

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]*$")
_PATH_TOKEN = re.compile(r"\{([^{}]*)\}")
KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # a device kind as a device or profile may declare it


class TimestampSpec(Strict):
    """Where the device's own time is in the payload, and how it is written."""

    path: str
    # iso: ISO 8601; without an offset it is device-local time in the site time zone.
    # epoch_s / epoch_ms: Unix time. auto: numbers are epoch (ms when > 1e11), strings ISO.
    form: Literal["iso", "epoch_s", "epoch_ms", "auto"] = "auto"


class FieldSpec(Strict):
    """One payload field -> one canonical metric."""

    # Dotted JSON path; `*` matches one level of any key; `{channel}` inside a key captures a
    # channel number. A list gives alternatives: the first one present wins. None (text payloads):
    # the whole payload is the value.
    path: str | list[str] | None = None
    metric: str
    unit: str | None = None
    scale: float = 1.0
    map: dict[Any, Any] | None = None
    expand: bool = False  # an array gives metric, metric_2, metric_3 ...
    exclude: list[str] = Field(default_factory=list)  # keys that `*` must not match
    channel_base: int = 0  # the channel number that means "first channel" in {channel}
    if_present: str | None = None  # only when this path is present in the payload
    if_absent: str | None = None  # only when this path is absent
    type: vocabulary.MetricType | None = None  # required for metrics outside the vocabulary


class AvailabilitySpec(Strict):
    """Online/offline signal. Plain text payloads and JSON objects (value at `path`) both work."""

    path: str | None = None
    online: list[str]
    offline: list[str]


class TapSpec(Strict):
    tag: str = "tag"  # path of the tag id in the JSON payload


class IdentitySpec(Strict):
    """Where a payload says what the device is: its kind outright, or its model (looked up in the
    profile's `models`). What the device says is believed; a guess from its metrics is not."""

    kind: str | None = None  # path of a kind name, e.g. native telemetry {"kind": "hydrant"}
    model: str | None = None  # path of a model id, e.g. Zigbee2MQTT's device.model


class MessageSpec(Strict):
    """One topic pattern and what its payload means."""

    topic: str
    format: Literal["json", "text"] = "json"
    ignore: bool = False  # known topic carrying nothing for us (checked in file order)
    channel_base: int = 0  # the number in the topic's {channel} that means the first channel
    timestamp: TimestampSpec | None = None
    fields: list[FieldSpec] = Field(default_factory=list)
    # Every top-level key becomes a metric under its own name (native telemetry).
    passthrough: bool = False
    aliases: dict[str, str] = Field(default_factory=dict)  # passthrough renames, e.g. battery -> battery_pct
    availability: AvailabilitySpec | None = None
    tap: TapSpec | None = None
    identity: IdentitySpec | None = None


class SampleSpec(Strict):
    """A payload and what it must decode to; checked by `sitegate check` and the test suite."""

    topic: str  # `{site}` is replaced by the sample site id
    payload: str | dict[str, Any] | list[Any] = ""  # a mapping or list is sent as JSON
    received_at: datetime | None = None
    timezone: str = "UTC"  # the site time zone for this sample
    device: str | None = None
    readings: dict[str, Any] = Field(default_factory=dict)  # exactly the readings expected
    ts: datetime | None = None  # expected time of every reading (or of the tap)
    online: bool | None = None
    tap: str | None = None
    kind: str | None = None  # the kind the message declares (checked only when given)
    model: str | None = None  # the model the message names (checked only when given)
    ignored: bool = False
    rejected: list[str] = Field(default_factory=list)  # expected rejection reasons


class Profile(Strict):
    """One ecosystem or device model."""

    name: str
    ecosystem: str
    description: str = ""
    # Topic levels a site may change (devices.params in the site file), with their defaults:
    # Zigbee2MQTT's base_topic, Tasmota's prefixes. Patterns use them as whole levels: {base_topic}.
    params: dict[str, str] = Field(default_factory=dict)
    kind: str | None = None  # every device of this profile is of this kind (a profile for one model)
    models: dict[str, str] = Field(default_factory=dict)  # model id -> kind, for models with one use
    subscribe: list[str] | None = None  # MQTT filters; derived from `messages` when absent
    ignore: list[str] = Field(default_factory=list)  # checked before `messages`
    messages: list[MessageSpec] = Field(min_length=1)
    samples: list[SampleSpec] = Field(default_factory=list)

    _file: str = PrivateAttr(default="<profile>")
    _lines: LineMap | None = PrivateAttr(default=None)

    @property
    def file(self) -> str:
        return self._file

    def problem(self, loc: Sequence[str | int], message: str) -> Problem:
        """A FILE:LINE problem about the value at `loc` in this profile's file."""
        if self._lines is None:
            return Problem(self._file, 1, message)
        return self._lines.problem(loc, message)


def semantic_problems(profile: Profile) -> Iterator[Problem]:
    """What the schema cannot see: pattern syntax, vocabulary, value maps."""
    if not _NAME.match(profile.name):
        yield profile.problem(("name",), f"name '{profile.name}' must be lowercase letters, "
                              "digits, '-' or '_'")
    yield from _param_problems(profile)
    params = list(profile.params)
    for i, flt in enumerate(profile.subscribe or []):
        if problem := pattern_problem(flt, needs_device=False, params=params):
            yield profile.problem(("subscribe", i), problem)
    for i, pattern in enumerate(profile.ignore):
        if problem := pattern_problem(pattern, needs_device=False, params=params):
            yield profile.problem(("ignore", i), problem)
    for i, msg in enumerate(profile.messages):
        yield from _message_problems(profile, ("messages", i), msg)
    for loc, kind in ([(("kind",), profile.kind)] if profile.kind is not None else []) + \
            [(("models", model), kind) for model, kind in profile.models.items()]:
        if not KIND_NAME.match(kind):
            yield profile.problem(loc, f"kind '{kind}' must be lowercase letters, digits and '_' (e.g. smoke_detector)")


def _param_problems(profile: Profile) -> Iterator[Problem]:
    for name, default in profile.params.items():
        if not _METRIC.match(name) or name in (*PLACEHOLDERS, DEVICE_LEVELS):
            yield profile.problem(("params", name), f"parameter name '{name}' must be lowercase letters, digits "
                                  f"and '_', and not one of {', '.join(PLACEHOLDERS)}")
        elif why := param_value_problem(default):
            yield profile.problem(("params", name), f"the default '{default}' {why}")


def _message_problems(profile: Profile, loc: tuple[str | int, ...], msg: MessageSpec) -> Iterator[Problem]:
    if problem := pattern_problem(msg.topic, needs_device=not msg.ignore, params=list(profile.params)):
        yield profile.problem((*loc, "topic"), problem)
    kinds = [k for k, on in (("fields", bool(msg.fields or msg.passthrough)),
                             ("availability", msg.availability is not None),
                             ("tap", msg.tap is not None)) if on]
    if msg.ignore and kinds:
        yield profile.problem(loc, "an ignored topic decodes nothing; remove ignore or its "
                              + " and ".join(kinds))
    elif not kinds and not msg.ignore:
        yield profile.problem(loc, "this message decodes nothing; add fields, availability or tap, "
                              "or set ignore: true")
    elif len(kinds) > 1:
        yield profile.problem(loc, "a message is either fields, availability or tap, not "
                              f"{' and '.join(kinds)}; split it into separate messages")
    if msg.format == "text" and (msg.passthrough or msg.tap is not None):
        yield profile.problem((*loc, "format"), "passthrough and tap need a JSON payload; use format: json")
    for key, alias in msg.aliases.items():
        if not _METRIC.match(alias):
            yield profile.problem((*loc, "aliases", key), f"alias '{alias}' is not a metric name "
                                  "(lowercase letters, digits and '_')")
    if msg.timestamp is not None and (problem := _path_problem(msg.timestamp.path, allow_channel=False)):
        yield profile.problem((*loc, "timestamp", "path"), problem)
    if msg.identity is not None:
        if msg.format == "text" or msg.availability is not None or msg.ignore:
            yield profile.problem((*loc, "identity"), "identity is read from a JSON payload of fields or taps; "
                                  "remove it here")
        for key in ("kind", "model"):
            path = getattr(msg.identity, key)
            if path is not None and (problem := _path_problem(path, allow_channel=False)):
                yield profile.problem((*loc, "identity", key), problem)
    if msg.availability is not None and not (msg.availability.online and msg.availability.offline):
        yield profile.problem((*loc, "availability"), "list at least one online and one offline value")
    for j, fld in enumerate(msg.fields):
        yield from _field_problems(profile, (*loc, "fields", j), fld, msg.format)


def _field_problems(profile: Profile, loc: tuple[str | int, ...], fld: FieldSpec,
                    fmt: str) -> Iterator[Problem]:
    paths = fld.path if isinstance(fld.path, list) else [] if fld.path is None else [fld.path]
    if fmt == "text" and paths:
        yield profile.problem((*loc, "path"), "a text payload is one value; remove path")
    if fmt == "json" and not paths:
        yield profile.problem(loc, "a JSON field needs a path, e.g. path: ENERGY.Power")
    for path in paths:
        if problem := _path_problem(path, allow_channel=True):
            yield profile.problem((*loc, "path"), problem)
    for cond in ("if_present", "if_absent"):
        value = getattr(fld, cond)
        if value is not None and (problem := _path_problem(value, allow_channel=False)):
            yield profile.problem((*loc, cond), problem)
    if not math.isfinite(fld.scale) or fld.scale == 0:
        yield profile.problem((*loc, "scale"), "scale must be a finite number other than 0")
    yield from _metric_problems(profile, loc, fld)
    if fld.map is not None:
        yield from _map_problems(profile, (*loc, "map"), fld, fmt)


def _metric_problems(profile: Profile, loc: tuple[str | int, ...], fld: FieldSpec) -> Iterator[Problem]:
    if not _METRIC.match(fld.metric):
        yield profile.problem((*loc, "metric"), f"metric '{fld.metric}' must be lowercase letters, "
                              "digits and '_'")
        return
    known = vocabulary.METRICS.get(fld.metric)
    if known is None:
        if fld.type is None:
            close = difflib.get_close_matches(fld.metric, list(vocabulary.METRICS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            yield profile.problem((*loc, "metric"), f"metric '{fld.metric}' is not in the vocabulary{hint}; "
                                  "use a vocabulary name, or give `type` to add a new metric")
        return
    if fld.type is not None and fld.type != known.type:
        yield profile.problem((*loc, "type"), f"{fld.metric} is a {known.type} in the vocabulary, "
                              f"not a {fld.type}; remove type")
    if fld.unit is not None and fld.unit != known.unit:
        yield profile.problem((*loc, "unit"), f"{fld.metric} is in {known.unit or 'no unit'} in the "
                              f"vocabulary, not {fld.unit}; convert with scale and remove unit")
    if known.type != "number" and fld.scale != 1.0:
        yield profile.problem((*loc, "scale"), f"{fld.metric} is a {known.type}; "
                              "scale applies to numbers only")


def _map_problems(profile: Profile, loc: tuple[str | int, ...], fld: FieldSpec,
                  fmt: str) -> Iterator[Problem]:
    assert fld.map is not None
    known = vocabulary.METRICS.get(fld.metric)
    want = known.type if known else (fld.type or "number")
    for key, value in fld.map.items():
        where = (*loc, key if isinstance(key, str | int) else str(key))
        if isinstance(key, bool) and (fmt == "text" or key is value):
            # YAML 1.1 reads unquoted ON/OFF/yes/no as booleans: catch the usual slip.
            yield profile.problem(where, f"map key {str(key).lower()} is a boolean; if you meant the text "
                                  "ON/OFF/yes/no, put it in quotes (\"ON\": true)")
        elif not isinstance(key, str | int | float | bool):
            yield profile.problem(where, f"map key {key!r} must be text, a number or true/false")
        if not _is_type(value, want):
            yield profile.problem(where, f"{fld.metric} is a {want}, so the map must give a {want}, "
                                  f"not {value!r}")


def _is_type(value: Any, want: str) -> bool:
    if want == "bool":
        return isinstance(value, bool)
    if want == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, str)


def _path_problem(path: str, *, allow_channel: bool) -> str | None:
    if not path or any(not part for part in path.split(".")):
        return f"path '{path}' has an empty key; write keys separated by single dots"
    names = _PATH_TOKEN.findall(path)
    if any(n != "channel" for n in names) or len(names) > 1 or (names and not allow_channel):
        return f"path '{path}' may only hold one {{channel}} placeholder" if allow_channel else \
            f"path '{path}' cannot hold placeholders"
    return None
