"""The embedded time-series store: one SQLite file (WAL) in the data directory, zero setup.

Writes: the ingest thread hands points to a bounded inbox; one writer thread commits them in
batches (everything queued, up to `batch_max_points`, in one transaction). A point is stored as
one row per field in `raw` (microsecond timestamps); booleans are stored as 1/0, like
VictoriaMetrics and InfluxQL charts read them; strings are kept in `raw` only.

Downsampling is incremental: each batch adds its new numeric rows to the 1-minute and 1-hour
rollups (sum, min, max, count). A point written again with the same series and timestamp replaces
the old value (InfluxDB's rule; patrol rounds rely on it), and the rollup buckets it touched are
recomputed from `raw`, so a redelivered point is never counted twice.

Two paths per batch, by a per-series high-water mark kept in memory (the latest timestamp stored,
looked up once per series after opening): a row later than its series' mark cannot replace
anything, and goes straight into `raw` (a plain INSERT, so a wrong mark fails the batch, which is
then written again on the other path, rather than counting a row twice) and into the rollups. The
others (a redelivery after a restart, an out-of-order point, a repeat within the batch: 113 of
319,568 rows on the demo site's night) are staged in a temporary table, checked against `raw` and
replaced, with their buckets recomputed.

Retention: a sweep every `sweep_every` deletes raw rows older than `retention.raw`, 1-minute
rollups older than `retention.minute` and 1-hour rollups older than `retention.hour`.

Full policy: when the inbox is full (SQLite cannot keep up, or the disk fails), new batches are
refused whole and counted in `dropped()`; the ingest journal still holds the raw messages.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from gateway.core.clock import Clock, SystemClock
from gateway.timeseries.inbox import Inbox
from gateway.timeseries.point import FieldValue, Point, epoch_us
from gateway.timeseries.query import SeriesAnswer, SeriesQuery
from gateway.timeseries.writer import SinkState

log = logging.getLogger(__name__)

MINUTE_US = 60_000_000
HOUR_US = 3_600_000_000


def _bucket_sql(col: str, width: int) -> str:
    """Floor of `col` to a multiple of `width` (also right before 1970, where % is negative)."""
    return f"({col} - ((({col} % {width}) + {width}) % {width}))"


SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    field TEXT NOT NULL,
    tags TEXT NOT NULL,            -- canonical JSON of all tags, sorted
    device TEXT,                   -- copies of two tags, indexed for the series API
    zone TEXT,
    kind TEXT NOT NULL,            -- "number" or "string" (from the first value)
    UNIQUE (measurement, field, tags)
);
CREATE INDEX IF NOT EXISTS series_device ON series(measurement, field, device);
CREATE INDEX IF NOT EXISTS series_zone ON series(measurement, field, zone);
CREATE TABLE IF NOT EXISTS raw (
    series INTEGER NOT NULL,
    ts INTEGER NOT NULL,           -- microseconds since the Unix epoch, UTC
    value,                         -- no affinity: REAL, INTEGER (bools as 1/0) or TEXT as written
    PRIMARY KEY (series, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_1m (
    series INTEGER NOT NULL, bucket INTEGER NOT NULL,
    vsum REAL NOT NULL, vmin REAL NOT NULL, vmax REAL NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (series, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_1h (
    series INTEGER NOT NULL, bucket INTEGER NOT NULL,
    vsum REAL NOT NULL, vmin REAL NOT NULL, vmax REAL NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (series, bucket)
) WITHOUT ROWID;
"""

# The staging table of the rows that may replace stored ones (see the module's docstring).
_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS batch (
    series INTEGER NOT NULL, ts INTEGER NOT NULL, value, existed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (series, ts)
);
"""

_NUMERIC = "typeof(value) IN ('integer', 'real')"


def _add_new(table: str, width: int) -> str:
    b = _bucket_sql("ts", width)
    return f"""
    INSERT INTO {table} (series, bucket, vsum, vmin, vmax, n)
    SELECT series, {b}, sum(value), min(value), max(value), count(*) FROM temp.batch
    WHERE existed = 0 AND {_NUMERIC} GROUP BY series, {b}
    ON CONFLICT (series, bucket) DO UPDATE SET vsum = vsum + excluded.vsum,
        vmin = min(vmin, excluded.vmin), vmax = max(vmax, excluded.vmax), n = n + excluded.n
    """


def _recompute(table: str, width: int, source: str) -> list[str]:
    """Rebuild the buckets of `table` that a replaced point touched, from the finer `source`."""
    b = _bucket_sql("ts", width)
    touched = f"SELECT DISTINCT series, {b} AS bucket FROM temp.batch WHERE existed = 1"
    if source == "raw":
        agg = (f"SELECT s.series, k.bucket, sum(s.value), min(s.value), max(s.value), count(*) FROM raw s "
               f"JOIN ({touched}) k ON s.series = k.series "
               f"AND s.ts >= k.bucket AND s.ts < k.bucket + {width} "
               f"WHERE typeof(s.value) IN ('integer', 'real') GROUP BY s.series, k.bucket")
    else:
        agg = (f"SELECT s.series, k.bucket, sum(s.vsum), min(s.vmin), max(s.vmax), sum(s.n) FROM {source} s "
               f"JOIN ({touched}) k ON s.series = k.series AND s.bucket >= k.bucket "
               f"AND s.bucket < k.bucket + {width} GROUP BY s.series, k.bucket")
    return [f"DELETE FROM {table} WHERE (series, bucket) IN ({touched})",
            f"INSERT INTO {table} (series, bucket, vsum, vmin, vmax, n) {agg}"]


# Marks the staged points that replace a stored one; its rowcount says whether the rollups need
# the (costly, several scans) recompute at all: an out-of-order point that is new does not.
_MARK_EXISTING = ("UPDATE temp.batch SET existed = 1 WHERE EXISTS "
                  "(SELECT 1 FROM raw r WHERE r.series = batch.series AND r.ts = batch.ts)")
_STAGED_SQL = [
    "INSERT OR REPLACE INTO raw (series, ts, value) SELECT series, ts, value FROM temp.batch",
    _add_new("rollup_1m", MINUTE_US),
    _add_new("rollup_1h", HOUR_US),
]
_RECOMPUTE_SQL = [*_recompute("rollup_1m", MINUTE_US, "raw"), *_recompute("rollup_1h", HOUR_US, "rollup_1m")]
_CLEAR_SQL = "DELETE FROM temp.batch"

# The new rows' path, one statement run per row (executemany), rows sorted by (series, ts).
_INSERT_NEW = "INSERT INTO raw (series, ts, value) VALUES (?, ?, ?)"
# A minute holds about one value of a series (demo site: 319,335 buckets for 319,455 rows), so each
# numeric row is added to its bucket on its own, with no sums in Python first.
_ADD_ROW_1M = f"""INSERT INTO rollup_1m (series, bucket, vsum, vmin, vmax, n)
    VALUES (?1, {_bucket_sql("?2", MINUTE_US)}, ?3, ?3, ?3, 1)
    ON CONFLICT (series, bucket) DO UPDATE SET vsum = vsum + excluded.vsum,
        vmin = min(vmin, excluded.vmin), vmax = max(vmax, excluded.vmax), n = n + 1"""
# An hour holds many: summed per bucket first (_hour_increments), one statement run per bucket.
_ADD_1H = """INSERT INTO rollup_1h (series, bucket, vsum, vmin, vmax, n) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (series, bucket) DO UPDATE SET vsum = vsum + excluded.vsum,
        vmin = min(vmin, excluded.vmin), vmax = max(vmax, excluded.vmax), n = n + excluded.n"""
_UNKNOWN = -(2**63)  # in EmbeddedStore._latest: not looked up yet
_NEVER = _UNKNOWN + 1  # the series has no row (below any point's time: year 1 is -6.2e16 us)

Row = tuple[int, int, FieldValue]  # series id, microseconds, value (bools as 1/0)


def _hour_increments(rows: list[Row]) -> list[list[float]]:
    """The 1-hour rollup increments (series, bucket, sum, min, max, count) of `rows`, numeric values
    sorted by (series, ts): a bucket's rows are adjacent, so each run is summed in one pass."""
    out: list[list[float]] = []
    h: list[float] = [0, 0]
    for sid, ts, v in rows:
        b = ts - ts % HOUR_US
        if b == h[1] and sid == h[0]:
            h[2] += v  # type: ignore[operator]
            if v < h[3]:  # type: ignore[operator]
                h[3] = v  # type: ignore[assignment]
            if v > h[4]:  # type: ignore[operator]
                h[4] = v  # type: ignore[assignment]
            h[5] += 1
        else:
            h = [sid, b, v, v, v, 1]  # type: ignore[list-item]
            out.append(h)
    return out


# Each table's time column and how far below a point's timestamp a row it writes can lie (a
# rollup bucket starts up to one width before its points).
_EMPTY = 2**62  # a lower bound for an empty table: later than any cutoff
_TABLES = {"raw": ("ts", 0), "rollup_1m": ("bucket", MINUTE_US), "rollup_1h": ("bucket", HOUR_US)}


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each resolution is kept."""

    raw: timedelta = timedelta(days=7)
    minute: timedelta = timedelta(days=90)
    hour: timedelta = timedelta(days=730)

    def __post_init__(self) -> None:
        for name in ("raw", "minute", "hour"):
            keep = getattr(self, name)
            if keep <= timedelta(0):
                raise ValueError(f"Retention '{name}' must be a positive duration; got {keep}.")


class EmbeddedStore:
    """The default time-series sink and the source of `GET /api/series`."""

    name = "embedded"

    def __init__(self, path: Path, *, retention: RetentionPolicy = RetentionPolicy(),
                 clock: Clock | None = None, queue_max_points: int = 200_000,
                 batch_max_points: int = 20_000, sweep_every: timedelta = timedelta(minutes=10),
                 synchronous: str = "NORMAL") -> None:
        """`path` is the database file (created with its folder). `synchronous=NORMAL` in WAL mode
        keeps every commit across a process crash; only a power cut can lose the last ones."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention = retention
        self.clock: Clock = clock or SystemClock()
        self.batch_max_points = batch_max_points
        self.sweep_every = sweep_every
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        # A checkpoint every 10,000 WAL pages (~40 MB) instead of 1,000: a page that many commits
        # touch (a series' last leaf) is copied back once, not once per commit or two; -8% of the
        # writer's CPU on the demo site's night (bench/README.md, "CPU per 1,000 msg/s").
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._conn.executescript(SCHEMA + _TEMP)
        self._write_lock = threading.Lock()  # the writer thread and sweep() share one connection
        # (measurement, field, sorted tag items) -> series id; built without JSON on the hot path.
        self._series: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
        # Per table, a lower bound of its time column (None: unknown, as when opened). A retention
        # sweep whose cutoff is at or below it would delete nothing, and is skipped: a sweep is one
        # DELETE per series and table (~6,000 statements on the demo site), the writer thread's
        # largest CPU cost in bench/profile_ingest.py before this.
        self._oldest: dict[str, int | None] = dict.fromkeys(_TABLES)
        # Per series id, the latest timestamp stored (or later: a mark too high only sends a row the
        # staged way), _UNKNOWN until looked up; 8 bytes a series.
        self._latest = array("q")
        self._tag_sets: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
        self._failing = False
        self._stored_rows = 0
        self._inbox: Inbox[Point] = Inbox(queue_max_points)
        self._stop = threading.Event()
        self._next_sweep = self.clock.now()
        self.queries = SeriesQuery(path)
        self._thread = threading.Thread(target=self._run, name="ts-embedded", daemon=True)

    def start(self) -> None:
        """Start the writer thread (once). Points written before are queued, not lost."""
        if self._thread.ident is None:
            self._thread.start()

    # --- Sink -------------------------------------------------------------------------------
    def write(self, points: Sequence[Point]) -> None:
        if not self._inbox.put(points):
            log.warning("The embedded time-series store is behind; %d points dropped (total %d).",
                        len(points), self._inbox.dropped)

    def flush(self, timeout: float = 10.0) -> bool:
        return self._inbox.wait_done(timeout)

    def durable(self, timeout: float = 10.0) -> bool:
        """The same as flush: a committed point survives kill -9."""
        return self.flush(timeout)

    def close(self) -> None:
        self.start()  # a store closed before it started still stores what it was handed
        self._inbox.close()
        self._thread.join()
        with self._write_lock:
            self._conn.close()

    def status(self) -> SinkState:
        if self._failing or not self._thread.is_alive():
            return "down"
        return "buffering" if len(self._inbox) > self._inbox.max_items // 2 else "ok"

    def backlog(self) -> int:
        return self._inbox.accepted - self._inbox.done

    def dropped(self) -> int:
        return self._inbox.dropped

    @property
    def stored_rows(self) -> int:
        """Field values committed by this instance (one point of three fields is three rows)."""
        return self._stored_rows

    # --- reading ----------------------------------------------------------------------------
    def query(self, measurement: str, field: str, *, device: str | None = None, zone: str | None = None,
              start: datetime, end: datetime, step: timedelta | None = None, limit: int = 10_000,
              agg: str = "avg") -> SeriesAnswer:
        """See SeriesQuery.run: raw points without `step`, one aggregate per step with it."""
        return self.queries.run(measurement, field, device=device, zone=zone, start=start, end=end,
                                step=step, limit=limit, agg=agg)

    # --- the writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._inbox.take(self.batch_max_points, timeout=1.0)
            if batch is None:
                return
            if self.clock.now() >= self._next_sweep:  # before the commit, so flush() also waits for it
                try:
                    self._sweep_if_due()
                except sqlite3.Error as exc:
                    log.error("The retention sweep of %s failed (%s); it runs again later.", self.path, exc)
                    self._next_sweep = self.clock.now() + self.sweep_every
            if batch:
                self._commit_retrying(batch)

    def _commit_retrying(self, batch: list[Point]) -> None:
        delay = 0.1
        try:
            while True:
                try:
                    self._commit(batch)
                    self._failing = False
                    return
                except sqlite3.OperationalError as exc:  # locked, disk full, I/O: may heal, keep the batch
                    if not self._failing:
                        log.error("The embedded time-series store cannot write to %s (%s); retrying.",
                                  self.path, exc)
                    self._failing = True
                    if self._stop.wait(delay):
                        return
                    delay = min(delay * 2, 5.0)
                except Exception as exc:  # will not heal (a bug, a bad value): give the batch up
                    log.error("The embedded time-series store refused a batch of %d points (%s); "
                              "it is dropped.", len(batch), exc)
                    self._inbox.dropped += len(batch)
                    return
        finally:
            self._inbox.finished(len(batch))

    def _series_id(self, measurement: str, field: str, tags: tuple[tuple[str, str], ...], is_text: bool) -> int:
        key = (measurement, field, tags)
        sid = self._series.get(key)
        if sid is None:
            tags_json = json.dumps(dict(tags), separators=(",", ":"), ensure_ascii=False)
            cur = self._conn.execute(
                "INSERT INTO series (measurement, field, tags, device, zone, kind) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (measurement, field, tags) DO UPDATE SET kind = kind RETURNING id",
                (measurement, field, tags_json, dict(tags).get("device"), dict(tags).get("zone"),
                 "string" if is_text else "number"))
            sid = int(cur.fetchone()[0])
            # A device's measurements carry equal tags (reading, equipment_health): keep one tuple of
            # them for all its series, not one per measurement (~300 bytes each, 100,000 devices).
            tags = self._tag_sets.setdefault(tags, tags)
            self._series[(measurement, field, tags)] = sid
        return sid

    def _commit(self, batch: list[Point]) -> None:
        with self._write_lock:
            try:
                self._write(batch, trust_marks=True)
            except sqlite3.IntegrityError:
                # A row taken for new was stored already (the marks were wrong: another writer on
                # the file?): the whole batch again, every row through the replacing path.
                self._write(batch, trust_marks=False)

    def _write(self, batch: list[Point], *, trust_marks: bool) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            fresh: list[Row] = []  # later than their series' mark: cannot replace a stored row
            stale: list[Row] = []  # the others, staged and checked against `raw`
            latest = self._latest
            series = self._series
            oldest = None
            text = False  # a string value in the batch (rollups leave those out)
            for p in batch:
                ts = epoch_us(p.ts)
                if oldest is None or ts < oldest:
                    oldest = ts
                tags = tuple(sorted(p.tags.items()))
                if "" in p.tags.values():  # an empty tag is left out, as line protocol does
                    tags = tuple(kv for kv in tags if kv[1])
                measurement = p.measurement
                for field, value in p.fields.items():
                    sid = series.get((measurement, field, tags))
                    if sid is None:
                        sid = self._series_id(measurement, field, tags, isinstance(value, str))
                        if sid >= len(latest):  # every id in `series` came through here
                            latest.extend([_UNKNOWN] * (sid + 1024 - len(latest)))
                    if value.__class__ is bool:
                        value = int(value)
                    elif isinstance(value, str):
                        text = True
                    top = latest[sid]
                    if top == _UNKNOWN:
                        top = latest[sid] = self._stored_latest(sid)
                    if ts > top:
                        latest[sid] = ts
                        (fresh if trust_marks else stale).append((sid, ts, value))
                    else:
                        stale.append((sid, ts, value))
            if fresh:
                # (series, ts): the B-trees' order, so consecutive rows share pages. Unique pairs (a
                # repeat is stale), so values, of mixed types, are never compared.
                fresh.sort()
                # Plain INSERT: a row that exists after all fails the batch (IntegrityError) instead
                # of being counted twice in the rollups.
                conn.executemany(_INSERT_NEW, fresh)
                numeric = [r for r in fresh if not isinstance(r[2], str)] if text else fresh
                conn.executemany(_ADD_ROW_1M, numeric)
                conn.executemany(_ADD_1H, _hour_increments(numeric))
            if stale:
                conn.executemany("INSERT OR REPLACE INTO temp.batch (series, ts, value) VALUES (?, ?, ?)",
                                 stale)
                replaced = conn.execute(_MARK_EXISTING).rowcount
                for sql in _STAGED_SQL:
                    conn.execute(sql)
                if replaced:
                    for sql in _RECOMPUTE_SQL:
                        conn.execute(sql)
                conn.execute(_CLEAR_SQL)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._series.clear()  # ids created in the rolled-back transaction are gone
            self._latest = array("q")
            raise
        self._stored_rows += len(fresh) + len(stale)
        if oldest is not None:
            for table, (_col, below) in _TABLES.items():
                bound = self._oldest[table]
                if bound is not None:
                    self._oldest[table] = min(bound, oldest - below)

    def _stored_latest(self, sid: int) -> int:
        """The series' latest stored timestamp: one probe of the primary key (series, ts)."""
        row = self._conn.execute("SELECT max(ts) FROM raw WHERE series = ?", (sid,)).fetchone()
        return _NEVER if row[0] is None else int(row[0])

    def _cutoffs(self) -> dict[str, int]:
        now_us = epoch_us(self.clock.now())
        r = self.retention
        keep = {"raw": r.raw, "rollup_1m": r.minute, "rollup_1h": r.hour}
        return {table: now_us - int(k.total_seconds() * 1_000_000) for table, k in keep.items()}

    def _sweep_if_due(self) -> None:
        """The writer's periodic sweep: skipped while no table can hold a row older than its cutoff."""
        cutoffs = self._cutoffs()
        if all(bound is not None and cutoffs[t] <= bound for t, bound in self._oldest.items()):
            self._next_sweep = self.clock.now() + self.sweep_every
            return
        self.sweep()

    def sweep(self) -> dict[str, int]:
        """Apply the retention policy now; answers the rows deleted per table."""
        cutoffs = self._cutoffs()
        deleted: dict[str, int] = {}
        with self._write_lock:
            ids = [row[0] for row in self._conn.execute("SELECT id FROM series")]
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for table, (col, _below) in _TABLES.items():
                    cutoff = cutoffs[table]
                    n = 0
                    for sid in ids:  # per series: a range delete on the primary key, no extra index
                        n += self._conn.execute(f"DELETE FROM {table} WHERE series = ? AND {col} < ?",
                                                (sid, cutoff)).rowcount
                    deleted[table] = n
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            for table, (col, _below) in _TABLES.items():
                # The oldest row left, from each series' first key (the primary key's order, so one
                # index probe per series, no scan). An empty table gets a bound no cutoff reaches;
                # commits lower it.
                oldest = self._conn.execute(
                    f"SELECT min((SELECT min({col}) FROM {table} WHERE series = s.id)) FROM series s").fetchone()[0]
                self._oldest[table] = _EMPTY if oldest is None else int(oldest)
        self._next_sweep = self.clock.now() + self.sweep_every
        return deleted
