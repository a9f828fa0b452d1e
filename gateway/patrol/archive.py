"""Finished rounds kept for the monthly report: the tracker holds rounds in memory for 8 days only.

Where: a SQLite file of its own in the gateway's data folder (`patrol_rounds.db`), not the ticket
store. Patrol works without the tickets feature and must not depend on that store's schema,
migrations or (one day) a PostgreSQL shared by several sites; a round is a small site-local fact
written a few times an hour, which the stdlib's sqlite3 (WAL, like the embedded time-series store)
handles with no extra layer. The folder is the one a site backs up already.

What: one row per round, replaced when a late tap revises it. Each row keeps what the report counts
at the time the round ended: route, guard, scheduled start, and every checkpoint's zone and state,
so a plan edited later (a checkpoint moved to another zone) does not rewrite past months.

Retention: rows whose scheduled start is older than `retention` (13 months by default: a month's
report and the same month a year before) are deleted when a later round is kept.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.patrol.model import PatrolPlan
from gateway.patrol.rounds import LATE, VISITED, RoundView

# 13 calendar months are at most 13 * 31 days: the same month a year ago is always kept in full.
RETENTION = timedelta(days=13 * 31)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    round_id TEXT PRIMARY KEY,
    route TEXT NOT NULL,
    start_us INTEGER NOT NULL,      -- scheduled start, UTC microseconds
    doc TEXT NOT NULL               -- ArchivedRound as JSON
);
CREATE INDEX IF NOT EXISTS rounds_start ON rounds(start_us);
"""


@dataclass(frozen=True, slots=True)
class ArchivedStop:
    checkpoint: str
    zone: str
    state: str  # visited (on time) | late | missed

    @property
    def counted(self) -> bool:
        return self.state in (VISITED, LATE)


@dataclass(frozen=True, slots=True)
class ArchivedRound:
    round_id: str
    route: str
    route_name: str
    guard: str  # the guard of the round's first counted tap, "" when nobody tapped
    start: datetime  # scheduled start, aware
    status: str  # completed | incomplete
    stops: tuple[ArchivedStop, ...]

    @property
    def expected(self) -> int:
        return len(self.stops)

    @property
    def visited(self) -> int:
        return sum(1 for s in self.stops if s.counted)

    @classmethod
    def of(cls, view: RoundView, plan: PatrolPlan) -> ArchivedRound:
        zones = {c.id: c.zone for c in plan.checkpoints}
        return cls(round_id=view.round_id, route=view.route, route_name=view.route_name or view.route,
                   guard=view.guard or "", start=datetime.fromisoformat(view.scheduled_start),
                   status=view.status,
                   stops=tuple(ArchivedStop(c.id, zones.get(c.id, "unassigned"), c.state) for c in view.checkpoints))

    def dump(self) -> str:
        return json.dumps({"round_id": self.round_id, "route": self.route, "route_name": self.route_name,
                           "guard": self.guard, "start": self.start.isoformat(), "status": self.status,
                           "stops": [[s.checkpoint, s.zone, s.state] for s in self.stops]}, ensure_ascii=False)

    @classmethod
    def load(cls, text: str) -> ArchivedRound:
        d = json.loads(text)
        return cls(round_id=d["round_id"], route=d["route"], route_name=d["route_name"], guard=d["guard"],
                   start=datetime.fromisoformat(d["start"]), status=d["status"],
                   stops=tuple(ArchivedStop(cp, zone, state) for cp, zone, state in d["stops"]))


def _us(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("The round archive only takes timezone-aware times.")
    delta = when.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(microseconds=1)


class RoundArchive:
    """Thread-safe: the pipeline thread keeps rounds, HTTP threads read them."""

    def __init__(self, path: Path, plan: PatrolPlan, *, retention: timedelta = RETENTION) -> None:
        if retention <= timedelta(0):
            raise ValueError(f"Round retention must be a positive duration; got {retention}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.plan, self.retention = path, plan, retention
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def keep(self, view: RoundView, now: datetime) -> None:
        """Store a finished round (again, when a late tap revised it) and drop those past retention."""
        rnd = ArchivedRound.of(view, self.plan)
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            self._conn.execute("INSERT OR REPLACE INTO rounds (round_id, route, start_us, doc) VALUES (?, ?, ?, ?)",
                               (rnd.round_id, rnd.route, _us(rnd.start), rnd.dump()))
            self._conn.execute("DELETE FROM rounds WHERE start_us < ?", (_us(now - self.retention),))

    def between(self, start: datetime, end: datetime) -> list[ArchivedRound]:
        """Rounds whose scheduled start falls in [start, end), in start order."""
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM rounds WHERE start_us >= ? AND start_us < ? "
                                      "ORDER BY start_us, route", (_us(start), _us(end))).fetchall()
        return [ArchivedRound.load(doc) for (doc,) in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
