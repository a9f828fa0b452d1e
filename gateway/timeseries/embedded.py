"""The embedded time-series store: one SQLite file (WAL) in the data directory, zero setup.

Writes: the ingest thread hands points to a bounded inbox; one writer thread commits them in
batches (everything queued, up to `batch_max_points`, in one transaction). A point is stored as
one row per field in `raw` (microsecond timestamps); booleans are stored as 1/0, like
VictoriaMetrics and InfluxQL charts read them; strings are kept in `raw` only. A point written
again with the same series and timestamp replaces the old value (InfluxDB's rule; patrol rounds
rely on it).

Downsampling is done in bulk, an hour at a time. The rollups (1-minute and 1-hour sum, min, max,
count) hold the points before the sealed mark (`sealed.before`, a whole hour, kept one to two
hours behind the clock); the points from the mark on are in `raw` only, and a query with a step
aggregates them there (SeriesQuery). Once the clock allows a later mark, the writer aggregates
the raw rows between the two marks into both rollups and moves the mark, in the transaction of a
commit (or of a retention sweep, before it deletes raw rows). So a point at or after the mark
(nearly all: a point reaches the store seconds after its time) is one INSERT OR REPLACE into
`raw`, whatever it replaces, with no rollup to keep right; the rollups are written in bulk, in
the B-trees' order, once. The writer's CPU per message of the demo mix: 27.5 -> 20 us replaying the
same commits, 30 -> 24 in the whole process (bench/README.md, "The store's writer: rollups
sealed an hour at a time").

A point before the mark (late by over an hour, a redelivery after a long stop) is staged in a
temporary table, checked against `raw` and replaced, added to the rollups when new and with the
buckets it touched recomputed when it replaced a stored value, so it is never counted twice.

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
# The sealed mark is the last whole hour at least this far behind the clock: later points go
# straight into `raw`, earlier ones the staged way (see the module's docstring).
LIVE_US = HOUR_US


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
CREATE TABLE IF NOT EXISTS sealed (   -- one row, written when the store first opens the file
    one INTEGER PRIMARY KEY CHECK (one = 1),
    before INTEGER NOT NULL        -- a whole hour (us): the rollups hold the points before it
);
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

# The path of the points at or after the sealed mark, one statement run per row (executemany),
# rows sorted by (series, ts); no rollup holds these points yet, so a replaced value needs no fix.
_UPSERT_RAW = "INSERT OR REPLACE INTO raw (series, ts, value) VALUES (?1, ?2, ?4)"  # ?3: see _write


def _seal_sql(table: str, width: int) -> str:
    """Aggregate the raw rows of [?1, ?2) into `table`: one range of the primary key per series
    (CROSS JOIN keeps `series` the outer loop: `raw` has no index on ts alone). No rollup row
    exists there before (nothing writes one at or after the mark)."""
    b = _bucket_sql("r.ts", width)
    if width == MINUTE_US:
        # A minute holds about one value of a series, and the rows come in (series, ts) order: an
        # upsert per row, no GROUP BY (whose sort cost as much again: 24 against 40 ms an hour of
        # the demo site, 42,000 rows).
        return f"""INSERT INTO {table} (series, bucket, vsum, vmin, vmax, n)
    SELECT r.series, {b}, r.value, r.value, r.value, 1
    FROM series s CROSS JOIN raw r WHERE r.series = s.id AND r.ts >= ?1 AND r.ts < ?2
    AND typeof(r.value) IN ('integer', 'real')
    ON CONFLICT (series, bucket) DO UPDATE SET vsum = vsum + excluded.vsum,
        vmin = min(vmin, excluded.vmin), vmax = max(vmax, excluded.vmax), n = n + 1"""
    return f"""INSERT INTO {table} (series, bucket, vsum, vmin, vmax, n)
    SELECT r.series, {b}, sum(r.value), min(r.value), max(r.value), count(*)
    FROM series s CROSS JOIN raw r WHERE r.series = s.id AND r.ts >= ?1 AND r.ts < ?2
    AND typeof(r.value) IN ('integer', 'real') GROUP BY r.series, {b}"""


_SEAL_SQL = [_seal_sql("rollup_1m", MINUTE_US), _seal_sql("rollup_1h", HOUR_US)]
# The usual seal, one hour [?1, ?1 + 1 h): one sum per series, in the order of its id (the series
# table's own order, NOT INDEXED), so no sort for the GROUP BY: 11 against 18 ms on the demo site.
_SEAL_ONE_HOUR = f"""INSERT INTO rollup_1h (series, bucket, vsum, vmin, vmax, n)
    SELECT s.id, ?1, sum(r.value), min(r.value), max(r.value), count(*)
    FROM series s NOT INDEXED CROSS JOIN raw r WHERE r.series = s.id AND r.ts >= ?1 AND r.ts < ?1 + {HOUR_US}
    AND typeof(r.value) IN ('integer', 'real') GROUP BY s.id"""
# The newest time in each table: one probe of the primary key per series, no scan.
_LATEST_SQL = [f"SELECT max((SELECT max({col}) FROM {table} WHERE series = s.id)) FROM series s"
               for table, col in (("raw", "ts"), ("rollup_1m", "bucket"), ("rollup_1h", "bucket"))]

Row = tuple[int, int, int, FieldValue]  # series id, microseconds, index of its point in the batch, value


def _floor(us: int, width: int) -> int:
    return us - us % width  # Python's % is never negative for a positive width


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
        # 8 MiB of page cache instead of 2: a commit dirties about one `raw` leaf per series it holds
        # (each series' newest), which then stay cached for the next commit; -5% of the writer's CPU
        # with the small commits a writer that keeps up makes (bench/README.md, "rollups sealed").
        self._conn.execute("PRAGMA cache_size=-8192")
        self._conn.executescript(SCHEMA + _TEMP)
        self._place_first_mark()
        self._write_lock = threading.Lock()  # the writer thread and sweep() share one connection
        # (measurement, sorted tag items) -> field -> series id; built without JSON on the hot path.
        # Two levels: the tag items' tuple is hashed once per point, not once per field (CPython
        # does not cache a tuple's hash): -1.3 us/msg of the writer on the demo mix.
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, int]] = {}
        # Per table, a lower bound of its time column (None: unknown, as when opened). A retention
        # sweep whose cutoff is at or below it would delete nothing, and is skipped: a sweep is one
        # DELETE per series and table (~6,000 statements on the demo site), the writer thread's
        # largest CPU cost in bench/profile_ingest.py before this.
        self._oldest: dict[str, int | None] = dict.fromkeys(_TABLES)
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
        """The series' id, created in the open transaction when new."""
        tags_json = json.dumps(dict(tags), separators=(",", ":"), ensure_ascii=False)
        cur = self._conn.execute(
            "INSERT INTO series (measurement, field, tags, device, zone, kind) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (measurement, field, tags) DO UPDATE SET kind = kind RETURNING id",
            (measurement, field, tags_json, dict(tags).get("device"), dict(tags).get("zone"),
             "string" if is_text else "number"))
        return int(cur.fetchone()[0])

    def _place_first_mark(self) -> None:
        """The sealed mark of a file that has none: a new one, or one written before the mark existed,
        whose rollups hold every point stored. So the mark goes after the newest time in any table
        (those rollups stay as they are, and points for that time go the staged way until the clock
        passes it), or where the clock puts it if that is later."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM sealed").fetchone() is None:
                mark = self._mark_for(epoch_us(self.clock.now()))
                for sql in _LATEST_SQL:
                    newest = conn.execute(sql).fetchone()[0]
                    if newest is not None:
                        mark = max(mark, _floor(int(newest), HOUR_US) + HOUR_US)
                conn.execute("INSERT INTO sealed (one, before) VALUES (1, ?)", (mark,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _mark_for(self, now_us: int) -> int:
        """Where the sealed mark belongs at `now_us`: the last whole hour at least LIVE_US ago, and no
        earlier than the raw retention's cutoff (rounded up to an hour), so that a sweep never deletes
        a raw row the rollups do not hold yet."""
        raw_cutoff = now_us - int(self.retention.raw.total_seconds() * 1_000_000)
        return max(_floor(now_us - LIVE_US, HOUR_US), -_floor(-raw_cutoff, HOUR_US))

    def _seal(self, now_us: int) -> int:
        """In the open transaction: move the sealed mark to where it belongs at `now_us`, the raw rows
        it passes aggregated into both rollups; answers the mark (never moved back)."""
        conn = self._conn
        before = int(conn.execute("SELECT before FROM sealed").fetchone()[0])
        mark = self._mark_for(now_us)
        if mark <= before:
            return before
        conn.execute(_SEAL_SQL[0], (before, mark))
        if mark - before == HOUR_US:
            conn.execute(_SEAL_ONE_HOUR, (before,))
        else:
            conn.execute(_SEAL_SQL[1], (before, mark))
        conn.execute("UPDATE sealed SET before = ?", (mark,))
        raw_bound = self._oldest["raw"]
        for table in ("rollup_1m", "rollup_1h"):  # rows from raw: no older than raw's bound
            bound = self._oldest[table]
            if bound is not None:
                self._oldest[table] = None if raw_bound is None else min(bound, raw_bound - _TABLES[table][1])
        return mark

    def _commit(self, batch: list[Point]) -> None:
        with self._write_lock:
            self._write(batch)

    def _write(self, batch: list[Point]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read in the transaction: another store on the file (not a supported setup) may move it.
            sealed = self._seal(epoch_us(self.clock.now()))
            live: list[Row] = []  # at or after the mark: in no rollup yet
            staged: list[Row] = []  # before it: checked against `raw`, the rollups kept right
            series = self._series
            oldest = None
            for i, p in enumerate(batch):
                ts = epoch_us(p.ts)
                if oldest is None or ts < oldest:
                    oldest = ts
                rows = live if ts >= sealed else staged
                tags = tuple(sorted(p.tags.items()))
                if "" in p.tags.values():  # an empty tag is left out, as line protocol does
                    tags = tuple(kv for kv in tags if kv[1])
                measurement = p.measurement
                ids = series.get((measurement, tags))
                if ids is None:
                    # A device's measurements carry equal tags (reading, equipment_health): one tuple
                    # of them for all its series, not one per measurement (~300 bytes, 100,000 devices).
                    ids = series[(measurement, self._tag_sets.setdefault(tags, tags))] = {}
                for field, value in p.fields.items():
                    sid = ids.get(field)
                    if sid is None:
                        sid = ids[field] = self._series_id(measurement, field, tags, isinstance(value, str))
                    if value.__class__ is bool:
                        value = int(value)
                    rows.append((sid, ts, i, value))
            if live:
                # (series, ts): the B-tree's order, so consecutive rows share pages (raw insert
                # 12.2 -> 6.7 us/msg when this was measured, bench/README.md). The point's index
                # breaks ties: a repeat's last value is written last (it wins), and values, of
                # mixed types, are never compared (a plain sort: half the cost of one with a key).
                live.sort()
                conn.executemany(_UPSERT_RAW, live)
            if staged:
                conn.executemany("INSERT OR REPLACE INTO temp.batch (series, ts, value) VALUES (?1, ?2, ?4)",
                                 staged)
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
            raise
        self._stored_rows += len(live) + len(staged)
        if oldest is not None:
            for table, (_col, below) in _TABLES.items():
                bound = self._oldest[table]
                if bound is not None:
                    self._oldest[table] = min(bound, oldest - below)

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
                self._seal(epoch_us(self.clock.now()))  # first: raw rows past the cutoff get sealed
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
