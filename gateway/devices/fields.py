"""Compiled field mappings: find a value in a payload and turn it into a checked metric value.

Built once per profile when the Decoder starts, so the per-message work is dictionary lookups
and a few comparisons: no pydantic, no parsing of the profile, no regex except for `{channel}`
keys. Every bad value comes back as a Rejection instead of an exception.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from typing import Any

from gateway.core.model import Rejection, Value
from gateway.devices import vocabulary
from gateway.devices.schema import FieldSpec

# Values no sensor reports; bounds numbers of metrics outside the vocabulary.
_GENERIC_LIMIT = 1e15


class Wild:
    """`*` in a path: any key except the excluded ones."""

    __slots__ = ("exclude",)

    def __init__(self, exclude: frozenset[str]) -> None:
        self.exclude = exclude


class Chan:
    """A key holding `{channel}`, e.g. `switch:{channel}` or `POWER{channel}`."""

    __slots__ = ("base", "prefix", "regex")

    def __init__(self, key: str, base: int) -> None:
        before, _, after = key.partition("{channel}")
        self.regex = re.compile(re.escape(before) + "([0-9]{1,3})" + re.escape(after))
        self.prefix = before  # a cheap test before the regex: most keys of a payload are other keys
        self.base = base


Segment = str | Wild | Chan


def compile_path(path: str, *, exclude: frozenset[str] = frozenset(), base: int = 0) -> tuple[Segment, ...]:
    segs: list[Segment] = []
    for key in path.split("."):
        if key == "*":
            segs.append(Wild(exclude))
        elif "{channel}" in key:
            segs.append(Chan(key, base))
        else:
            segs.append(key)
    return tuple(segs)


def get_literal(root: Any, segs: tuple[str, ...]) -> Any:
    """The value at a path of plain keys, or None."""
    node = root
    for key in segs:
        if type(node) is not dict:
            return None
        node = node.get(key)
    return node


def find(root: Any, segs: tuple[Segment, ...], out: list[tuple[int, Any]]) -> None:
    """Append (channel index, value) for every non-null value at the path."""
    current: list[tuple[int, Any]] = [(0, root)]
    wild = False
    for seg in segs:
        nxt: list[tuple[int, Any]] = []
        for idx, node in current:
            if type(node) is not dict:
                continue
            if type(seg) is str:
                value = node.get(seg)
                if value is not None:
                    nxt.append((idx, value))
            elif type(seg) is Wild:
                wild = True
                nxt.extend((idx, v) for k, v in node.items() if k not in seg.exclude and v is not None)
            else:
                assert isinstance(seg, Chan)
                prefix = seg.prefix
                for k, v in node.items():
                    if v is None or not k.startswith(prefix):
                        continue
                    m = seg.regex.fullmatch(k)
                    if m is not None:
                        ch = int(m.group(1)) - seg.base
                        if ch >= 0:
                            nxt.append((idx + ch, v))
        current = nxt
        if not current:
            return
    if wild:
        # Several sensors matched by `*` (DS18B20-1, DS18B20-2) are numbered in payload order.
        current = [(i, v) for i, (_, v) in enumerate(current)]
    out.extend(current)


class Converter:
    """Checks and converts one raw value for one metric (type, scale, value map, sane range)."""

    __slots__ = ("bool_map", "div", "high", "low", "metric", "mul", "other_map", "plain_bool", "plain_number",
                 "type", "unit", "unscaled_number")

    def __init__(self, metric: str, type_: vocabulary.MetricType, unit: str | None, low: float | None,
                 high: float | None, scale: float = 1.0, value_map: dict[Any, Any] | None = None) -> None:
        self.metric = metric
        self.type = type_
        self.unit = unit
        self.low = low if low is not None else -_GENERIC_LIMIT
        self.high = high if high is not None else _GENERIC_LIMIT
        self.mul: float | None = None
        self.div: int | None = None
        if scale != 1.0:
            # Dividing by 1000 gives 1.532441 where multiplying by 0.001 gives 1.5324410000000002.
            inv = 1.0 / scale
            self.div = round(inv) if abs(inv - round(inv)) < 1e-9 else None
            self.mul = None if self.div else scale
        # Split so JSON true never matches a key 1 (True == 1 in Python).
        value_map = value_map or {}
        self.bool_map = {k: v for k, v in value_map.items() if isinstance(k, bool)}
        self.other_map = {k: v for k, v in value_map.items() if not isinstance(k, bool)}
        self.plain_number = type_ == "number" and not self.other_map
        self.plain_bool = type_ == "bool" and not self.bool_map
        # A JSON number in range is the value itself: the decoder checks this inline, without a call.
        self.unscaled_number = self.plain_number and self.div is None and self.mul is None

    def convert(self, raw: Any, text: bool) -> Value | Rejection:
        """The checked value, or why it was refused. `text`: the raw value came from a text payload."""
        t = type(raw)
        if (t is float or t is int) and self.plain_number:
            x = raw if self.div is None and self.mul is None else self._scaled(raw)
            # The bounds are finite, so this also refuses NaN and infinities.
            if self.low <= x <= self.high:
                return x
            return self._checked(x)
        if t is bool and self.plain_bool:
            return raw  # type: ignore[no-any-return]
        if t is bool:
            if raw in self.bool_map:
                return self._checked(self.bool_map[raw])
        elif (t is str or t is int or t is float) and self.other_map:
            mapped = self.other_map.get(raw)
            if mapped is not None:
                return self._checked(mapped)
        want = self.type
        if want == "number":
            if t is int or t is float:
                return self._checked(self._scaled(raw))
            if t is str and text:
                number = _parse_number(raw)
                if number is not None:
                    return self._checked(self._scaled(number))
        elif want == "bool":
            if t is bool:
                return raw  # type: ignore[no-any-return]
        elif t is str:
            return self._checked(raw)
        return Rejection("wrong_type", f"{self.metric}: expected a {want}, got {_show(raw)}")

    def _scaled(self, x: float) -> float:
        if self.div is not None:
            return x / self.div
        if self.mul is not None:
            return x * self.mul
        return x

    def _checked(self, value: Value) -> Value | Rejection:
        if type(value) is float:
            if not math.isfinite(value):
                return Rejection("non_finite", f"{self.metric}: {value} is not a finite number")
        elif type(value) is str:
            if len(value) > vocabulary.MAX_STRING_LENGTH or not _encodable(value):
                return Rejection("out_of_range", f"{self.metric}: text value is too long or not valid text")
            return value
        elif type(value) is bool:
            return value
        if not self.low <= value <= self.high:  # type: ignore[operator]
            return Rejection("out_of_range", f"{self.metric}: {_show(value)} is outside the sane range "
                             f"{self.low:g}..{self.high:g}")
        return value


def _parse_number(text: str) -> int | float | None:
    s = text.strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a lenient JSON parser
        return False
    return True


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def converter_for(metric: str, spec: FieldSpec | None = None) -> Converter:
    """A converter for a vocabulary metric (suffixes allowed) or a profile-defined one."""
    known = vocabulary.lookup(metric)
    scale = spec.scale if spec else 1.0
    value_map = spec.map if spec else None
    if known is not None:
        return Converter(metric, known.type, known.unit, known.low, known.high, scale, value_map)
    type_ = spec.type if spec and spec.type else "number"
    return Converter(metric, type_, spec.unit if spec else None, None, None, scale, value_map)


def infer_converter(metric: str, raw: Any) -> Converter:
    """For passthrough names outside the vocabulary: the type is whatever the device sent."""
    t = type(raw)
    type_: vocabulary.MetricType = "bool" if t is bool else "string" if t is str else "number"
    return Converter(metric, type_, None, None, None)


# How a compiled field is read, from the commonest (one dict lookup) to the general `values()`.
HOW_KEY = 0  # one plain top-level key: `power`
HOW_TWO = 1  # two plain keys: `ENERGY.Power`
HOW_WILD = 2  # `*.key`: that key in every block of the payload (Tasmota's sensors)
HOW_CHAN = 3  # one top-level key holding {channel}: `POWER{channel}`
HOW_PATHS = 4  # anything else


class CompiledField:
    """A FieldSpec ready for the hot path."""

    __slots__ = ("conditional", "converter", "expand", "first", "how", "if_absent", "if_present", "key", "name0",
                 "names", "one", "paths", "plain", "plain_tail", "second", "wild_exclude")

    def __init__(self, spec: FieldSpec) -> None:
        raw_paths = spec.path if isinstance(spec.path, list) else [] if spec.path is None else [spec.path]
        exclude = frozenset(spec.exclude)
        self.paths = [compile_path(p, exclude=exclude, base=spec.channel_base) for p in raw_paths]
        self.converter = converter_for(spec.metric, spec)
        self.expand = spec.expand
        self.if_present = tuple(spec.if_present.split(".")) if spec.if_present else None
        self.if_absent = tuple(spec.if_absent.split(".")) if spec.if_absent else None
        self.names = [spec.metric]
        self.conditional = self.if_present is not None or self.if_absent is not None
        # One plain top-level key: the decoder reads it with a single dict lookup.
        only = self.paths[0] if len(self.paths) == 1 else ()
        self.key = only[0] if len(only) == 1 and type(only[0]) is str else None
        # Paths of plain keys only, and the plain rest after a leading `*` (single path only).
        self.plain = [_plain(segs) for segs in self.paths]
        # A single path of two plain keys: read with one small function, no lists.
        self.one = _getter2(*self.plain[0]) if len(self.plain) == 1 and self.plain[0] is not None \
            and len(self.plain[0]) == 2 else None
        self.plain_tail = _plain(self.paths[0][1:]) if len(self.paths) == 1 and len(self.paths[0]) > 1 \
            else None
        self.name0 = spec.metric
        # How the decoder reads it (see HOW_*), with what that needs.
        self.first = self.second = ""
        self.wild_exclude = exclude
        if self.key is not None:
            self.how = HOW_KEY
        elif self.one is not None:
            self.how = HOW_TWO
            first, second = self.plain[0]  # type: ignore[misc]
            # Interned: the decoder reads a first key shared by consecutive fields (ENERGY.*) once.
            self.first, self.second = sys.intern(first), second
        elif len(self.paths) == 1 and len(self.paths[0]) == 2 and type(self.paths[0][0]) is Wild \
                and self.plain_tail is not None:
            self.how = HOW_WILD
            self.second = self.plain_tail[0]
        elif len(self.paths) == 1 and len(self.paths[0]) == 1 and type(self.paths[0][0]) is Chan:
            self.how = HOW_CHAN
        else:
            self.how = HOW_PATHS

    def name(self, index: int) -> str:
        """`metric` for the first channel, `metric_2`, `metric_3` ... after it."""
        names = self.names
        if index == 0:
            return names[0]
        while len(names) <= index:
            names.append(f"{names[0]}_{len(names) + 1}")
        return names[index]

    def applies(self, root: Any) -> bool:
        if self.if_present is not None and get_literal(root, self.if_present) is None:
            return False
        return self.if_absent is None or get_literal(root, self.if_absent) is None

    def values(self, root: Any) -> list[tuple[int, Any]]:
        """(channel index, raw value) pairs from the first alternative path that is present."""
        out: list[tuple[int, Any]] = []
        for segs, plain in zip(self.paths, self.plain, strict=True):
            if plain is not None:
                value = get_literal(root, plain)
                if value is not None:
                    out.append((0, value))
                    break
            elif type(segs[0]) is Wild and self.plain_tail is not None and type(root) is dict:
                # `*.Temperature`: one pass over the sensor blocks.
                exclude, tail = segs[0].exclude, self.plain_tail
                for k, block in root.items():
                    if type(block) is dict and k not in exclude:
                        value = get_literal(block, tail)
                        if value is not None:
                            out.append((len(out), value))
                if out:
                    break
            else:
                find(root, segs, out)
                if out:
                    break
        return out


def _plain(segs: tuple[Segment, ...]) -> tuple[str, ...] | None:
    if all(type(seg) is str for seg in segs):
        return tuple(str(seg) for seg in segs)
    return None


def _getter2(first: str, second: str) -> Callable[[dict[str, Any]], Any]:
    def get(root: dict[str, Any]) -> Any:
        node = root.get(first)
        return node.get(second) if type(node) is dict else None

    return get
