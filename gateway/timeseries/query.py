"""Reading the embedded store: one series query for charts, with an explicit point limit.

Without a step the answer is the raw values, oldest first, of every series that matches (all
devices of a zone, say). With a step it is one aggregate per step over all matching series:
`from` is rounded down to a multiple of the step (steps are aligned to the Unix epoch, UTC), and
the coarsest table that can answer exactly is read: 1-hour rollups when the step is a whole
number of hours, 1-minute rollups when it is a whole number of minutes, raw rows otherwise.
The rollups hold the points before the store's sealed mark (a whole hour, one to two hours ago;
see embedded.py); the points from it on are aggregated from raw rows, as rollup rows of one point
each, in the same statement (one snapshot of the file).
An answer never hides a cut: `truncated` is true when more points than `limit` matched.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from typing_extensions import TypedDict  # pydantic (the API's response model) needs it on 3.11

from gateway.timeseries.point import epoch_us

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WIDTHS: Final = (("1h", "rollup_1h", 3_600_000_000), ("1m", "rollup_1m", 60_000_000))
# Aggregate over raw values, and over rollup rows.
AGGREGATES: Final[dict[str, tuple[str, str]]] = {
    "avg": ("avg(value)", "sum(vsum) / sum(n)"),
    "min": ("min(value)", "min(vmin)"),
    "max": ("max(value)", "max(vmax)"),
    "count": ("count(value)", "sum(n)"),
}
MAX_LIMIT: Final = 1_000_000
_NUMERIC: Final = "typeof(value) IN ('integer', 'real')"


class SeriesAnswer(TypedDict):
    points: list[list[object]]  # [[ISO 8601 time with offset, value], ...]
    truncated: bool  # more points matched than `limit`; the oldest `limit` are here
    limit: int
    resolution: str  # which data answered: "raw", "1m" or "1h"


def iso(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).isoformat()


class SeriesQuery:
    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, measurement: str, field: str, *, device: str | None, zone: str | None,
            start: datetime, end: datetime, step: timedelta | None, limit: int,
            agg: str = "avg") -> SeriesAnswer:
        """Raises ValueError with a sentence for the caller when the question itself is wrong."""
        for name, when in (("start", start), ("end", end)):
            if when.tzinfo is None:
                raise ValueError(f"The {name} time {when.isoformat()} has no UTC offset; "
                                 "add one, e.g. +08:00 or Z.")
        if start >= end:
            raise ValueError(f"The start {start.isoformat()} is not before the end {end.isoformat()}; "
                             "swap them or widen the range.")
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"The point limit must be between 1 and {MAX_LIMIT}; got {limit}.")
        if agg not in AGGREGATES:
            raise ValueError(f"Unknown aggregate '{agg}'; use one of {', '.join(AGGREGATES)}.")
        step_us = None
        if step is not None:
            step_us = int(step.total_seconds() * 1_000_000)
            if step_us < 1_000_000 or step_us % 1_000_000:
                raise ValueError(f"The step must be a whole number of seconds, at least 1 s; got {step}.")
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            where = ["measurement = ?", "field = ?"]
            args: list[object] = [measurement, field]
            for col, value in (("device", device), ("zone", zone)):
                if value is not None:
                    where.append(f"{col} = ?")
                    args.append(value)
            found = conn.execute(f"SELECT id, kind FROM series WHERE {' AND '.join(where)}", args).fetchall()
            ids = [int(r[0]) for r in found]
            if step_us is not None and any(r[1] == "string" for r in found):
                raise ValueError(f"Field '{field}' of '{measurement}' holds text, which cannot be averaged; "
                                 "ask without a step for its raw values.")
            if not ids:
                return {"points": [], "truncated": False, "limit": limit, "resolution": "raw"}
            s_us, e_us = epoch_us(start), epoch_us(end)
            marks = ",".join("?" * len(ids))
            if step_us is None:
                sql = (f"SELECT ts, value FROM raw WHERE series IN ({marks}) AND ts >= ? AND ts < ? "
                       "ORDER BY ts, series LIMIT ?")
                rows = conn.execute(sql, [*ids, s_us, e_us, limit + 1]).fetchall()
                resolution = "raw"
            else:
                s_us -= s_us % step_us
                table, col, resolution, expr = "raw", "ts", "raw", AGGREGATES[agg][0]
                for name, tab, width in _WIDTHS:
                    if step_us % width == 0:
                        table, col, resolution, expr = tab, "bucket", name, AGGREGATES[agg][1]
                        break
                b = f"({col} - ((({col} % {step_us}) + {step_us}) % {step_us}))"
                if table == "raw":
                    sql = (f"SELECT {b} AS b, {expr} FROM raw WHERE series IN ({marks}) AND ts >= ? "
                           f"AND ts < ? AND {_NUMERIC} GROUP BY b ORDER BY b LIMIT ?")
                    args = [*ids, s_us, e_us]
                else:
                    # A rollup row counts when its bucket starts before the end: so do the raw rows
                    # of a bucket that does (the end rounded up to a bucket). CAST: rollup columns
                    # are REAL, and SQLite's sum/sum of integers would divide as integers. The union's
                    # columns take the first SELECT's names (`bucket`); the ids are one JSON
                    # parameter, read twice (not twice as many parameters: SQLite caps them, 32,766 by default).
                    e_bucket = -((-e_us) // width) * width
                    sql = (f"WITH ids(id) AS (SELECT value FROM json_each(?)) SELECT {b} AS b, {expr} FROM ("
                           f"SELECT bucket, vsum, vmin, vmax, n FROM {table} "
                           "WHERE series IN ids AND bucket >= ? AND bucket < ? UNION ALL "
                           "SELECT ts, CAST(value AS REAL), CAST(value AS REAL), CAST(value AS REAL), 1 "
                           "FROM raw WHERE series IN ids AND ts >= max(?, (SELECT before FROM sealed)) "
                           f"AND ts < ? AND {_NUMERIC}) GROUP BY b ORDER BY b LIMIT ?")
                    args = [json.dumps(ids), s_us, e_us, s_us, e_bucket]
                rows = conn.execute(sql, [*args, limit + 1]).fetchall()
        finally:
            conn.close()
        return {"points": [[iso(int(ts)), value] for ts, value in rows[:limit]],
                "truncated": len(rows) > limit, "limit": limit, "resolution": resolution}
