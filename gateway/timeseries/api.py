"""`GET /api/series` (CONTRACT.md): chart data from the embedded store.

Parameters are checked here so that a wrong question gets a 400 with a sentence saying what to
change, never a silent empty or cut answer. `from`/`to` are ISO 8601 with an offset (`Z` works);
they default to the last 24 hours. `step` is a number with a unit: `30s`, `5m`, `1h`, `1d` (a bare
number is seconds). `limit` (default 10,000) caps the points; an answer that hit it has
`"truncated": true`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, Query

from gateway.core.clock import Clock, SystemClock
from gateway.timeseries.embedded import EmbeddedStore
from gateway.timeseries.point import MEASUREMENTS
from gateway.timeseries.query import AGGREGATES, MAX_LIMIT, SeriesAnswer

DEFAULT_SPAN = timedelta(hours=24)
DEFAULT_LIMIT = 10_000
_STEP = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_step(text: str) -> timedelta:
    match = _STEP.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"step '{text}' is not a duration; write a positive number with a unit, "
                         "e.g. 30s, 5m, 1h or 1d.")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2) or "s"])


def parse_time(name: str, text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"'{name}' is '{text}', which is not an ISO 8601 time; "
                         "write it like 2026-11-23T21:00:00+08:00.") from None
    if when.tzinfo is None:
        raise ValueError(f"'{name}' is '{text}', which has no UTC offset; add one, e.g. +08:00 or Z.")
    return when


def check_names(measurement: str, field: str) -> None:
    if measurement not in MEASUREMENTS:
        raise ValueError(f"Unknown measurement '{measurement}'; use one of {', '.join(sorted(MEASUREMENTS))}.")
    fields = MEASUREMENTS[measurement][1]
    if fields is not None and field not in fields:
        raise ValueError(f"Measurement '{measurement}' has no field '{field}'; "
                         f"its fields are {', '.join(sorted(fields))}.")


def make_router(store: EmbeddedStore, *, clock: Clock | None = None) -> APIRouter:
    router = APIRouter()
    now = (clock or SystemClock()).now

    @router.get("/api/series", summary="Time series from the embedded store",
                responses={400: {"description": "A parameter is wrong; `detail` says which and how"}})
    def series(measurement: str = Query(..., description="reading, equipment_health, patrol_tap, ..."),
               field: str = Query(..., description="a field of the measurement, e.g. pressure_mpa"),
               device: str | None = None, zone: str | None = None,
               from_: str | None = Query(None, alias="from", description="ISO 8601 with offset"),
               to: str | None = Query(None, description="ISO 8601 with offset; default now"),
               step: str | None = Query(None, description="30s, 5m, 1h, 1d: one average per step"),
               limit: str | None = Query(None, description=f"at most this many points (1..{MAX_LIMIT})"),
               agg: str = Query("avg", description=f"with step: {', '.join(AGGREGATES)}")) -> SeriesAnswer:
        try:
            check_names(measurement, field)
            end = parse_time("to", to) if to else now()
            start = parse_time("from", from_) if from_ else end - DEFAULT_SPAN
            n = DEFAULT_LIMIT
            if limit is not None:
                if not limit.strip().isdigit():
                    raise ValueError(f"limit '{limit}' is not a whole number; give 1 to {MAX_LIMIT}.")
                n = int(limit)
            return store.query(measurement, field, device=device, zone=zone, start=start, end=end,
                               step=parse_step(step) if step else None, limit=n, agg=agg)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    return router
