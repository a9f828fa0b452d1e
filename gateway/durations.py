"""One way to write a duration in every file a site edits: "90s", "15m", "6h", "1d", "1h30m"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any, *, bare_numbers: bool = True) -> timedelta:
    """A timedelta from "90s", "15m", "6h", "1d", "1h30m" (parts in any order of units), or from a
    number of seconds when `bare_numbers`; raises ValueError saying the expected form."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 and \
            (bare_numbers or value == 0):
        return timedelta(seconds=value)
    text = value.strip().replace(" ", "") if isinstance(value, str) else ""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration; write it like 90s, 15m, 6h, 1d or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))
