"""A bounded first-in-first-out spool of encoded points on disk, for the InfluxDB sink.

Why SQLite and not segment files: one file, atomic appends and deletes, and a crash in the middle
of either leaves the spool as it was before. Rows get a sequence number that is never reused
(AUTOINCREMENT), so the sender can always say "delete everything up to N" safely, even when the
full policy removed those rows meanwhile.

Durability: each `append` is one transaction (the sink appends whole batches: a group commit).
In WAL mode with `synchronous=NORMAL` (the default) a committed append survives kill -9 of the
process; a power cut may lose the last commits. `synchronous="FULL"` fsyncs every append.

Full policy (explicit, chosen at construction, counted either way):
- "drop_oldest" (default): the oldest spooled points make room for the new ones, like Telegraf's
  metric buffer. After a long outage head office gets the most recent history first-hand, which is
  what people look at; the gap is at the start of the outage.
- "drop_newest": new points are refused while the spool is full; the gap is at the end.
Every point dropped is added to a counter kept in the spool file, so it survives restarts.

Idempotent: a line identical to one still waiting is ignored (see the unique index).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

FullPolicy = Literal["drop_oldest", "drop_newest"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, line BLOB NOT NULL);
-- A line already waiting is not queued twice: after a crash the gateway replays its journal and
-- re-encodes byte-identical points (same series, fields and time), which InfluxDB would overwrite anyway.
CREATE UNIQUE INDEX IF NOT EXISTS spool_line ON spool(line);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('dropped', 0);
"""


class Spool:
    def __init__(self, path: Path, *, max_points: int, policy: FullPolicy = "drop_oldest",
                 synchronous: str = "NORMAL") -> None:
        if max_points < 1:
            raise ValueError(f"The spool must hold at least one point; got max_points={max_points}.")
        if policy not in ("drop_oldest", "drop_newest"):
            raise ValueError(f"Unknown spool full policy '{policy}'; use drop_oldest or drop_newest.")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_points = max_points
        self.policy: FullPolicy = policy
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.executescript(SCHEMA)
        self._count = int(self._conn.execute("SELECT count(*) FROM spool").fetchone()[0])
        self._dropped = int(self._conn.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()[0])

    def __len__(self) -> int:
        return self._count

    @property
    def dropped(self) -> int:
        """Points dropped by the full policy over the life of this spool file."""
        return self._dropped

    @property
    def full(self) -> bool:
        return self._count >= self.max_points

    def append(self, lines: Sequence[bytes]) -> int:
        """Add `lines` at the tail in one transaction; answers how many points the full policy dropped."""
        if not lines:
            return 0
        with self._lock:
            over = self._count + len(lines) - self.max_points
            keep = list(lines)
            evict = 0
            if over > 0 and self.policy == "drop_newest":
                keep = keep[: max(0, len(keep) - over)]
            elif over > 0:
                if len(keep) > self.max_points:  # even an empty spool cannot hold this batch
                    keep = keep[-self.max_points:]
                evict = min(self._count, over)
            dropped = len(lines) - len(keep) + evict
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if evict:
                    self._conn.execute("DELETE FROM spool WHERE seq IN "
                                       "(SELECT seq FROM spool ORDER BY seq LIMIT ?)", (evict,))
                before = self._conn.total_changes
                self._conn.executemany("INSERT OR IGNORE INTO spool (line) VALUES (?)", [(line,) for line in keep])
                inserted = self._conn.total_changes - before
                if dropped:
                    self._conn.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (dropped,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._count += inserted - evict
            self._dropped += dropped
            return dropped

    def peek(self, n: int) -> tuple[int, list[bytes]]:
        """The `n` oldest lines and the sequence number of the last one; (0, []) when empty."""
        with self._lock:
            rows = self._conn.execute("SELECT seq, line FROM spool ORDER BY seq LIMIT ?", (n,)).fetchall()
        if not rows:
            return 0, []
        return int(rows[-1][0]), [bytes(r[1]) for r in rows]

    def head_seq(self) -> int | None:
        """The sequence number of the oldest line, None when empty."""
        with self._lock:
            row = self._conn.execute("SELECT min(seq) FROM spool").fetchone()
        return None if row[0] is None else int(row[0])

    def last_seq(self) -> int:
        """The highest sequence number ever given (0 for a new spool)."""
        with self._lock:
            row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone()
        return 0 if row is None else int(row[0])

    def ack(self, upto: int) -> int:
        """Delete every line up to sequence `upto` (the server took them); answers how many went."""
        with self._lock:
            n = self._conn.execute("DELETE FROM spool WHERE seq <= ?", (upto,)).rowcount
            self._count -= n
            return int(n)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
