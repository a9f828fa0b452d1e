"""The gateway's own durable state: one SQLite file (WAL) in the data directory.

The ingest journal, the device registry, dead letters and consumer watermarks share one file so a
batch commits all of them in one transaction: after a kill -9 they always agree with each other.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    conn INTEGER NOT NULL,        -- which MQTT connection delivered it (stale-ack and redelivery checks)
    mid INTEGER NOT NULL,         -- MQTT packet id (0 for QoS0 or non-MQTT sources)
    digest INTEGER NOT NULL,      -- 64-bit hash of topic and payload, to recognise a redelivery
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at REAL NOT NULL     -- unix seconds
);
CREATE INDEX IF NOT EXISTS journal_mid ON journal(mid);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL           -- JSON of registry.DeviceState
);
CREATE TABLE IF NOT EXISTS deadletters (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    received_at REAL NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class StateDB:
    """Owns the writer connection (used by the pipeline thread only) and hands out readers."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._synchronous = synchronous
        self.writer = self._connect()
        self.writer.executescript(SCHEMA)
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (kill -9); FULL also survives a power cut at
        # the price of an fsync per commit. The group commit makes either affordable.
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn

    def reader(self) -> sqlite3.Connection:
        """A per-thread read connection (WAL readers never block the writer)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def get_kv(self, key: str) -> str | None:
        row = self.writer.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        self.writer.close()
