"""The validators every file a site edits shares: one duration, one severity, one strict model.

Site files (config, rules, patrol, tickets, auth, device profiles) are read by pydantic with
FILE:LINE problems (see yamlsource). Each file used to carry its own copy of these, and the copies
disagreed (one refused `45`, another took `-3600`): now there is one of each.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Severity = Literal["critical", "major", "minor", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "major", "minor", "warning")


def problem(message: str) -> PydanticCustomError:
    """A validation error whose text is exactly our sentence (a ValueError would get "Value error, ")."""
    return PydanticCustomError("sitegate", message)


def id_problem(value: str, *, allow_space: bool = False) -> str | None:
    """Why `value` cannot be an id (device, zone, kind), or None. Ids are MQTT topic levels and tags."""
    if not value:
        return "is empty"
    if len(value) > 128:
        return "is longer than 128 characters"
    if any(c in "/+#" for c in value):
        return "contains '/', '+' or '#', which cannot be part of one MQTT topic level; use '-' instead"
    if any(not c.isprintable() or (c.isspace() and not allow_space) for c in value):
        return "contains blanks or control characters; use '-' or '_' instead of spaces"
    return None


def parse_duration(value: Any) -> timedelta:
    """A timedelta from "90s", "15m", "6h", "1d", "1h30m" (parts in any order of units), or from a
    non-negative number of seconds; raises ValueError saying the expected form."""
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"{value} is not a duration (it must be zero or longer); "
                             "write it like 90s, 15m, 6h, 1d or 1h30m")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a duration (it must be zero or longer); "
                             "write it like 90s, 15m, 6h, 1d or 1h30m")
        return timedelta(seconds=value)
    text = value.strip().replace(" ", "") if isinstance(value, str) else ""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration; write it like 90s, 15m, 6h, 1d or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def format_duration(d: timedelta) -> str:
    """The short form parse_duration reads: 6h, 15m, 90s."""
    seconds = int(d.total_seconds())
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def as_duration(value: Any) -> timedelta:
    """parse_duration for a validator: the error is our sentence, with no prefix."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise problem(str(exc)) from None


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise problem("must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(as_duration)]
"""Zero or longer: "90s", "15m", "1h30m", "1d", or a number of seconds."""
PositiveDuration = Annotated[timedelta, BeforeValidator(as_duration), AfterValidator(_positive)]
"""Longer than zero (a timeout, a cache lifetime, a round limit)."""


class Strict(BaseModel):
    """The base of every model read from a site file: unknown keys are errors (a typo never passes
    silently) and the result is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
