"""The durable outbox: every event is written here (SQLite, WAL) before anything tries to send it,
and stays unsent until the broker's PUBACK; what was unsent at a crash is sent at the next start.

One row per event id (`INSERT OR IGNORE`): the same conclusion reached twice is one row. Sent rows are
pruned after `keep_sent`. Unsent rows are the WAN backlog and are kept, except that past
`max_unsent` the oldest health events (a minute's figures, superseded by the next) make room.
The device states head office was last told of live here too, written with their events in one
transaction, so a restart neither repeats nor skips a device change.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.events.build import DeviceState, Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS events_unsent ON events (seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS events_sent ON events (sent_at) WHERE sent_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS device_states (
    device TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    healthy INTEGER NOT NULL,
    since TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    id: str
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class KnownDevice:
    state: DeviceState
    since: str  # ISO


class Outbox:
    """Thread-safe: the pipeline thread and HTTP threads add, the sender thread reads and marks."""

    def __init__(self, path: Path, *, keep_sent: float = 86400.0, max_unsent: int = 1_000_000,
                 now: Callable[[], float] = time.time) -> None:
        self.path = path
        self.keep_sent, self.max_unsent = keep_sent, max_unsent
        self._now = now
        self._lock = threading.Lock()
        self.dropped = 0  # health events dropped past max_unsent
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL with synchronous=NORMAL survives a crash of the process (kill -9), which is what the
        # outbox is for; a power cut may lose the last commits, as it may the state database's.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def add(self, events: Sequence[Event], devices: Iterable[tuple[str, KnownDevice]] = ()) -> int:
        """Store events (and the device states they announce) in one transaction; returns how many
        were new (an id already in the outbox is not stored again)."""
        now = self._now()
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO events (id, kind, topic, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                    [(e.id, e.kind, e.topic, e.payload, now) for e in events])
                added = self._db.total_changes - before
                self._db.executemany(
                    "INSERT OR REPLACE INTO device_states (device, state, healthy, since) VALUES (?, ?, ?, ?)",
                    [(device, k.state.state, int(k.state.healthy), k.since) for device, k in devices])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return added

    def has(self, event_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is not None

    def unsent(self, limit: int, skip: Iterable[int] = ()) -> list[Pending]:
        """The oldest unsent events, in the order they were concluded, except those in `skip`."""
        skipped = set(skip)
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, topic, payload FROM events WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
                (limit + len(skipped),)).fetchall()
        return [Pending(*row) for row in rows if row[0] not in skipped][:limit]

    def mark_sent(self, seqs: Sequence[int]) -> None:
        now = self._now()
        with self._lock:
            self._db.executemany("UPDATE events SET sent_at = ? WHERE seq = ?", [(now, s) for s in seqs])

    def prune(self) -> int:
        """Forget events sent more than `keep_sent` seconds ago; make room past `max_unsent`."""
        with self._lock:
            gone = self._db.execute("DELETE FROM events WHERE sent_at IS NOT NULL AND sent_at < ?",
                                    (self._now() - self.keep_sent,)).rowcount
            (unsent,) = self._db.execute("SELECT count(*) FROM events WHERE sent_at IS NULL").fetchone()
            if unsent > self.max_unsent:
                dropped = self._db.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE sent_at IS NULL AND "
                    "kind = 'health' ORDER BY seq LIMIT ?)", (unsent - self.max_unsent,)).rowcount
                self.dropped += dropped
                gone += dropped
        return int(gone)

    def counts(self) -> dict[str, int]:
        """Events by state: unsent (waiting for the broker's PUBACK) and sent (kept for a while)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sent_at IS NULL, count(*) FROM events GROUP BY sent_at IS NULL").fetchall()
        found = {("unsent" if unsent else "sent"): int(n) for unsent, n in rows}
        return {"unsent": found.get("unsent", 0), "sent": found.get("sent", 0)}

    def devices(self) -> dict[str, KnownDevice]:
        with self._lock:
            rows = self._db.execute("SELECT device, state, healthy, since FROM device_states").fetchall()
        return {d: KnownDevice(DeviceState(state, bool(healthy)), since) for d, state, healthy, since in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
