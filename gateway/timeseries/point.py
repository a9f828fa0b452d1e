"""One time-series point, its checks, and its InfluxDB line-protocol encoding.

The encoding is ours, not influxdb-client's, because the spool stores encoded lines: what is
resent after a restart is byte for byte what was first sent (same names, same nanosecond
timestamp), so a server that upserts on series+timestamp collapses a resend instead of counting
it twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

FieldValue = float | int | bool | str

# CONTRACT.md's table: measurement -> (tags, fields). `reading` takes one field per decoded metric,
# so its field set is open (None). The dashboards test and the series API check names against it.
MEASUREMENTS: Final[dict[str, tuple[frozenset[str], frozenset[str] | None]]] = {
    "reading": (frozenset({"site", "device", "kind", "zone"}), None),
    "equipment_health": (frozenset({"site", "device", "kind", "zone"}),
                         frozenset({"online", "health", "open_tickets"})),
    "patrol_tap": (frozenset({"site", "route", "checkpoint", "guard", "result"}),
                   frozenset({"on_time", "delay_s"})),
    "patrol_round": (frozenset({"site", "route", "round"}),
                     frozenset({"expected", "visited", "late", "missed", "coverage"})),
    "ticket_event": (frozenset({"site", "rule", "severity", "zone", "event"}),
                     frozenset({"ticket_id", "response_s", "resolve_s"})),
}

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Line protocol escapes (https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/).
# A raw newline would end the line, so keys and tag values spell it as the two characters `\n`,
# like influxdb-client does.
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\r": r"\r", "\t": r"\t",
                                      "\\": "\\\\"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\r": r"\r", "\t": r"\t",
                              "\\": "\\\\"})
# In a string field only `"` and `\` are escapes; a newline is written as the text `\n` so one
# point stays one line in the spool (documented loss: the value reads back with `\n` as text).
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": r"\n", "\r": r"\r"})


def epoch_ns(ts: datetime) -> int:
    """Exact nanoseconds since the Unix epoch (integer arithmetic, no float rounding)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def epoch_us(ts: datetime) -> int:
    """Exact microseconds since the Unix epoch, the embedded store's time unit."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _check_value(measurement: str, key: str, value: object) -> None:
    where = f"Field '{key}' of measurement '{measurement}'"
    if isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{where} is {value}, outside the 64-bit integer range; send it as a float.")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}; line protocol has no NaN or infinity, so leave it out.")
        return
    raise ValueError(f"{where} is a {type(value).__name__}; use float, int, bool or str.")


def _sound(value: object) -> bool:
    """Whether _check_value accepts `value`, without building its message (Point.trusted's fast look)."""
    t = type(value)
    if t is bool or t is str:
        return True
    if t is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    return t is int and _INT64_MIN <= value <= _INT64_MAX  # type: ignore[operator]


def _field_text(value: FieldValue) -> str:
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same float
    return '"' + value.translate(_STRING_ESCAPES) + '"'


@dataclass(frozen=True)
class Point:
    """A measurement at one instant: tags identify the series, fields carry the values.

    Checked when built (a bad point raises ValueError here, in the code that made it, not later
    in a sender thread): a non-empty measurement, string tags, at least one field, field values
    of float (finite), int (64-bit), bool or str, and a timezone-aware timestamp. A tag whose
    value is empty is left out of the encoding, as InfluxDB does: line protocol cannot carry it.
    """

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    ts: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.measurement, str) or not self.measurement:
            raise ValueError(f"A point needs a measurement name; got {self.measurement!r}.")
        for key, value in self.tags.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"Tag keys of measurement '{self.measurement}' must be non-empty strings; "
                                 f"got {key!r}.")
            if not isinstance(value, str):
                raise ValueError(f"Tag '{key}' of measurement '{self.measurement}' is a "
                                 f"{type(value).__name__}; tag values are strings, so convert it "
                                 "(or make it a field).")
        if not self.fields:
            raise ValueError(f"A point of measurement '{self.measurement}' needs at least one field.")
        for key, field_value in self.fields.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"Field keys of measurement '{self.measurement}' must be non-empty strings; "
                                 f"got {key!r}.")
            _check_value(self.measurement, key, field_value)
        if not isinstance(self.ts, datetime) or self.ts.tzinfo is None or self.ts.utcoffset() is None:
            raise ValueError(f"The timestamp of a '{self.measurement}' point must be a timezone-aware "
                             f"datetime; got {self.ts!r}.")

    @classmethod
    def trusted(cls, measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue],
                ts: datetime) -> Point:
        """A point whose measurement name and tags are our own code's (the time-series consumer's
        reading points: a constant name, registry tags): only its fields and timestamp are looked at,
        and anything `__post_init__` would refuse goes through it and raises as it always did. The
        full check was ~6% of the pipeline thread in bench/profile_ingest.py."""
        if not fields or ts.tzinfo is None or not all(_sound(v) for v in fields.values()):
            return cls(measurement, tags, fields, ts)
        point = object.__new__(cls)
        object.__setattr__(point, "measurement", measurement)
        object.__setattr__(point, "tags", tags)
        object.__setattr__(point, "fields", fields)
        object.__setattr__(point, "ts", ts)
        return point

    def to_line(self) -> str:
        """The point as one line of InfluxDB line protocol, nanosecond timestamp, no newline."""
        parts = [self.measurement.translate(_MEASUREMENT_ESCAPES)]
        # Sorted tags: the form InfluxDB stores, and the same bytes every time for a resend.
        for key in sorted(self.tags):
            value = self.tags[key]
            if value:
                parts.append(f",{key.translate(_KEY_ESCAPES)}={value.translate(_KEY_ESCAPES)}")
        fields = ",".join(f"{k.translate(_KEY_ESCAPES)}={_field_text(v)}"
                          for k, v in sorted(self.fields.items()))
        return f"{''.join(parts)} {fields} {epoch_ns(self.ts)}"
