"""The head office store: a batch of events written in one transaction, idempotently, and the reads
the fleet API needs. SQLite (one replica, the default) or PostgreSQL (several replicas).

Every write is an `INSERT ... ON CONFLICT` whose guard is in SQL, never a read followed by a write,
so two replicas committing at once stay correct. Within a batch, rows are written in key order
(events, then tickets, rounds, devices, sites), so two replicas lock rows in the same order and
cannot deadlock each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, case, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from gateway.fleet import schema
from gateway.fleet.events import FleetEvent
from gateway.fleet.tickets import next_due, ticket_from_json

PAYLOAD_CUT = 1024
ACTIVE = ("open", "acknowledged")


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that is not an event: kept as a dead letter with its reason."""

    topic: str
    reason: str
    detail: str
    payload: bytes


@dataclass(slots=True)
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


def _ts(when: datetime) -> float:
    return when.timestamp()


def night_of(local: datetime) -> str:
    """The evening a night round belongs to: rounds from noon to the next noon share a night."""
    day = local.date() if local.hour >= 12 else local.date() - timedelta(days=1)
    return day.isoformat()


class FleetStore:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        self.backend = parsed.get_backend_name()
        if self.backend == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:"):
                kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
            else:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                kwargs = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        elif self.backend != "postgresql":
            raise ValueError(f"database URL {parsed.render_as_string(hide_password=True)!r} is neither SQLite nor "
                             "PostgreSQL; write sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB")
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True, **kwargs)
        if self.backend == "sqlite":
            _sqlite_setup(self.engine)
        schema.metadata.create_all(self.engine)
        self._insert = sqlite.insert if self.backend == "sqlite" else postgresql.insert

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(write=True)
            with conn.begin():
                yield conn

    # -- writing --------------------------------------------------------------------------------
    def write_batch(self, batch: Sequence[FleetEvent], rejected: Sequence[Rejected] = (),
                    received_at: float = 0.0) -> BatchResult:
        """Store the events (each id once) and what they say, and the dead letters: one transaction.

        One statement per table executed for many rows (SQLAlchemy's "insertmanyvalues" and psycopg's
        pipeline): a batch costs a handful of round trips, not one per event, and the compiled
        statement is cached. RETURNING names exactly the events that were new.
        """
        result = BatchResult(rejected=len(rejected))
        unique: dict[str, FleetEvent] = {}
        for ev in sorted(batch, key=lambda e: e.id):
            unique.setdefault(ev.id, ev)
        with self._write() as conn:
            inserted: set[str] = set()
            rows = [{"id": ev.id, "site": ev.site, "kind": ev.kind, "type": ev.type, "at": _ts(ev.at),
                     "received_at": received_at, "payload": ev.raw.decode("utf-8", "replace")}
                    for ev in unique.values()]
            if rows:
                stmt = self._insert(schema.events).on_conflict_do_nothing(index_elements=["id"])
                inserted.update(conn.execute(stmt.returning(schema.events.c.id), rows).scalars())
            fresh = [ev for ev in unique.values() if ev.id in inserted]
            result.stored = len(fresh)
            result.duplicates = len(batch) - len(fresh)
            self._materialize(conn, fresh)
            if rejected:
                conn.execute(schema.deadletters.insert(), [
                    {"received_at": received_at, "topic": bad.topic[:400], "reason": bad.reason[:40],
                     "detail": bad.detail, "payload": bad.payload[:PAYLOAD_CUT].decode("utf-8", "replace")}
                    for bad in rejected])
        return result

    def _materialize(self, conn: Connection, fresh: Sequence[FleetEvent]) -> None:
        tickets: dict[tuple[str, str], FleetEvent] = {}
        rounds: dict[tuple[str, str], FleetEvent] = {}
        devices: dict[tuple[str, str], FleetEvent] = {}
        heard: dict[str, tuple[float, str]] = {}
        health: dict[str, FleetEvent] = {}
        for ev in fresh:
            at = _ts(ev.at)
            last, name = heard.get(ev.site, (float("-inf"), ""))
            heard[ev.site] = (max(last, at), ev.site_name or name)
            if ev.kind == "ticket":
                key = (ev.site, ev.ticket_id)
                if key not in tickets or tickets[key].revision < ev.revision:
                    tickets[key] = ev
            elif ev.kind == "round":
                rounds[(ev.site, str(ev.data["round_id"]))] = ev
            elif ev.kind == "device":
                key = (ev.site, str(ev.data["device"]))
                if key not in devices or _since(devices[key]) < _since(ev):
                    devices[key] = ev
            elif ev.site not in health or health[ev.site].at < ev.at:
                health[ev.site] = ev
        # Key order within each table, tables in a fixed order: replicas lock rows alike.
        self._upsert_tickets(conn, [tickets[k] for k in sorted(tickets)])
        self._upsert_rounds(conn, [rounds[k] for k in sorted(rounds)])
        self._upsert_devices(conn, [devices[k] for k in sorted(devices)])
        self._upsert_sites(conn, [(site, *heard[site], health.get(site)) for site in sorted(heard)])

    def _upsert_tickets(self, conn: Connection, found: Sequence[FleetEvent]) -> None:
        rows = []
        for ev in found:
            t = ticket_from_json(ev.site, ev.data)
            due = next_due(t)
            rows.append({"site": ev.site, "id": ev.ticket_id, "revision": ev.revision, "status": t.status,
                         "severity": t.severity, "zone": t.zone, "opened_at": _ts(t.opened_at),
                         "next_due": _ts(due) if due is not None else None, "event_at": _ts(ev.at),
                         "body": orjson.dumps({**ev.data, "revision": ev.revision}).decode()})
        if not rows:
            return
        stmt = self._insert(schema.tickets)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site", "id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k not in ("site", "id")},
            where=schema.tickets.c.revision < stmt.excluded.revision)
        conn.execute(stmt, rows)

    def _upsert_rounds(self, conn: Connection, found: Sequence[FleetEvent]) -> None:
        rows = []
        for ev in found:
            start = datetime.fromisoformat(str(ev.data["scheduled_start"]))
            rows.append({"site": ev.site, "round_id": str(ev.data["round_id"]),
                         "route": str(ev.data.get("route") or ""), "scheduled_start": _ts(start),
                         "night": night_of(start), "day": start.date().isoformat(),
                         "status": str(ev.data.get("status") or ""), "expected": int(ev.data["expected"]),
                         "visited": int(ev.data["visited"]), "event_at": _ts(ev.at),
                         "body": orjson.dumps(ev.data).decode()})
        if not rows:
            return
        stmt = self._insert(schema.rounds)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site", "round_id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k not in ("site", "round_id")},
            where=schema.rounds.c.event_at <= stmt.excluded.event_at)
        conn.execute(stmt, rows)

    def _upsert_devices(self, conn: Connection, found: Sequence[FleetEvent]) -> None:
        rows = [{"site": ev.site, "device": str(ev.data["device"]), "online": _online(ev.data), "since": _since(ev),
                 "body": orjson.dumps(ev.data).decode()} for ev in found]
        if not rows:
            return
        stmt = self._insert(schema.devices)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site", "device"], set_={k: stmt.excluded[k] for k in ("online", "since", "body")},
            where=schema.devices.c.since <= stmt.excluded.since)
        conn.execute(stmt, rows)

    def _upsert_sites(self, conn: Connection, found: Sequence[tuple[str, float, str, FleetEvent | None]]) -> None:
        s = schema.sites
        rows = [{"site": site, "name": name, "last_heard": heard,
                 "health_at": _ts(health.at) if health else None,
                 "health": orjson.dumps(health.data).decode() if health else None}
                for site, heard, name, health in found]
        if not rows:
            return
        stmt = self._insert(s)
        x = stmt.excluded
        newer_health = (s.c.health_at.is_(None)) | (x.health_at > s.c.health_at)
        stmt = stmt.on_conflict_do_update(index_elements=["site"], set_={
            "name": case((x.name != "", x.name), else_=s.c.name),
            "last_heard": case((x.last_heard > s.c.last_heard, x.last_heard), else_=s.c.last_heard),
            "health": case((x.health.is_not(None) & newer_health, x.health), else_=s.c.health),
            "health_at": case((x.health_at.is_not(None) & newer_health, x.health_at), else_=s.c.health_at),
        })
        conn.execute(stmt, rows)

    def prune(self, kind: str, before: float) -> int:
        """Delete stored events of `kind` whose `at` is before `before`; the number deleted. The current
        state keeps what they said (a site's latest health stays in its row)."""
        e = schema.events
        with self._write() as conn:
            return int(conn.execute(e.delete().where(e.c.kind == kind, e.c.at < before)).rowcount or 0)

    # -- reading --------------------------------------------------------------------------------
    def site_rows(self, now: float) -> list[dict[str, Any]]:
        """Per site heard from: name, last heard, health, and its ticket and device counts at `now`."""
        t, d, s = schema.tickets, schema.devices, schema.sites
        active = t.c.status.in_(ACTIVE)
        counts = select(
            t.c.site,
            func.sum(case((active, 1), else_=0)).label("open"),
            func.sum(case((active & (t.c.severity == "critical"), 1), else_=0)).label("critical"),
            func.sum(case((active & (t.c.next_due <= now), 1), else_=0)).label("overdue"),
        ).group_by(t.c.site).subquery()
        offline = select(d.c.site, func.count().label("total"),
                         func.sum(case((d.c.online.is_(False), 1), else_=0)).label("offline"),
                         ).group_by(d.c.site).subquery()
        query = (select(s.c.site, s.c.name, s.c.last_heard, s.c.health, counts.c.open, counts.c.critical,
                        counts.c.overdue, offline.c.total, offline.c.offline)
                 .outerjoin(counts, counts.c.site == s.c.site).outerjoin(offline, offline.c.site == s.c.site)
                 .order_by(s.c.site))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"site": r.site, "name": r.name, "last_heard": r.last_heard,
                 "health": orjson.loads(r.health) if r.health else None, "open_tickets": int(r.open or 0),
                 "critical_tickets": int(r.critical or 0), "overdue_tickets": int(r.overdue or 0),
                 "devices_known": int(r.total or 0), "devices_offline_known": int(r.offline or 0)} for r in rows]

    def coverage_by_site(self, night: date) -> dict[str, tuple[int, int]]:
        """(visited, expected) of the finished rounds of the night that began on `night`, per site."""
        r = schema.rounds
        query = (select(r.c.site, func.sum(r.c.visited), func.sum(r.c.expected))
                 .where(r.c.night == night.isoformat()).group_by(r.c.site))
        with self.engine.connect() as conn:
            return {site: (int(v or 0), int(e or 0)) for site, v, e in conn.execute(query)}

    def tickets(self, sites: Iterable[str] | None = None, status: Sequence[str] | None = None,
                opened_from: float | None = None, opened_to: float | None = None,
                limit: int | None = None) -> list[tuple[str, dict[str, Any], float | None]]:
        """(site, ticket JSON, next_due) newest first."""
        t = schema.tickets
        query = select(t.c.site, t.c.body, t.c.next_due).order_by(t.c.opened_at.desc(), t.c.site, t.c.id)
        if sites is not None:
            query = query.where(t.c.site.in_(list(sites)))
        if status:
            query = query.where(t.c.status.in_(list(status)))
        if opened_from is not None:
            query = query.where(t.c.opened_at >= opened_from)
        if opened_to is not None:
            query = query.where(t.c.opened_at < opened_to)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [(r.site, orjson.loads(r.body), r.next_due) for r in conn.execute(query)]

    def rounds(self, sites: Iterable[str] | None = None, night: str | None = None,
               day_from: str | None = None, day_to: str | None = None,
               limit: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        r = schema.rounds
        query = select(r.c.site, r.c.body).order_by(r.c.scheduled_start.desc(), r.c.site, r.c.round_id)
        if sites is not None:
            query = query.where(r.c.site.in_(list(sites)))
        if night is not None:
            query = query.where(r.c.night == night)
        if day_from is not None:
            query = query.where(r.c.day >= day_from)
        if day_to is not None:
            query = query.where(r.c.day < day_to)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [(row.site, orjson.loads(row.body)) for row in conn.execute(query)]

    def devices(self, site: str) -> list[dict[str, Any]]:
        d = schema.devices
        with self.engine.connect() as conn:
            rows = conn.execute(select(d.c.body).where(d.c.site == site).order_by(d.c.device)).all()
        return [orjson.loads(r.body) for r in rows]

    def event_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.events)).scalar_one())

    def event_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(schema.events.c.id))]

    def deadletters(self, limit: int = 100) -> list[dict[str, Any]]:
        dl = schema.deadletters
        with self.engine.connect() as conn:
            rows = conn.execute(select(dl).order_by(dl.c.seq.desc()).limit(limit)).all()
        return [{"topic": r.topic, "received_at": datetime.fromtimestamp(r.received_at).astimezone().isoformat(),
                 "reason": r.reason, "detail": r.detail, "payload": r.payload} for r in rows]


def _since(ev: FleetEvent) -> float:
    return datetime.fromisoformat(str(ev.data["since"])).timestamp()


def _online(data: dict[str, Any]) -> bool:
    if isinstance(data.get("online"), bool):
        return bool(data["online"])
    return data.get("state") != "offline"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (IMMEDIATE for writes)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")
