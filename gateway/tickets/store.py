"""Tickets in SQL (SQLAlchemy 2 Core): SQLite with WAL by default, PostgreSQL when sites share a store.

The database, not memory, is the truth about dedup: a partial unique index allows one active
(open or acknowledged) ticket per site and dedup key, and every update names the revision it read,
so two gateways on one store can neither open a duplicate nor overwrite each other's change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    false,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateColumn

from gateway.core.errors import SitegateError
from gateway.tickets.lifecycle import ACTIVE
from gateway.tickets.ticket import HistoryEntry, Ticket, ticket_seq


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no offset) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("The ticket store only takes timezone-aware times.")
        value = value.astimezone(UTC)
        # SQLite compares these as text: store them without an offset so every row sorts alike.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

tickets = Table(
    "tickets", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("site", String(100), nullable=False),
    Column("dedup_key", String(400), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("device_id", String(200), nullable=False),
    Column("zone", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("category", String(100), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("assignee", String(200)),
    Column("occurrences", Integer, nullable=False),
    Column("last_value", JSON(none_as_null=True)),
    Column("last_seen_at", UTCDateTime),
    Column("auto_resolve", Boolean, nullable=False),
    Column("condition_cleared", Boolean, nullable=False),
    Column("cleared_at", UTCDateTime),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("sla_started_at", UTCDateTime),
    Column("respond_due_at", UTCDateTime),
    Column("resolve_due_at", UTCDateTime),
    Column("revisit_due_at", UTCDateTime),
    Column("due_at", UTCDateTime),
    Column("overdue", Boolean, nullable=False),
    Column("escalation_level", Integer, nullable=False),
    Column("next_escalation_at", UTCDateTime),
    Column("revisit_overdue", Boolean, nullable=False),
    Column("revisit_result", String(16)),
    Column("acknowledged_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("cancelled_at", UTCDateTime),
    Column("suppressed", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    # The service loop (added after the first release: a store made before gains them on start-up,
    # hence the server defaults for the rows it already holds).
    Column("source", String(20), nullable=False, server_default="sensor"),
    Column("channel", String(20), nullable=False, server_default="sensor"),
    Column("place", Text, nullable=False, server_default=""),
    Column("reporter_name", String(200), nullable=False, server_default=""),
    Column("reporter_contact", String(200), nullable=False, server_default=""),
    Column("photos", JSON, nullable=False, server_default="[]"),
    Column("emergency", Boolean, nullable=False, server_default=false()),
    Column("team", String(200)),
    Column("arrive_due_at", UTCDateTime),
    Column("arrived_at", UTCDateTime),
    Column("resolved_by", String(200)),
    Column("work_done", Text, nullable=False, server_default=""),
    Column("parts", JSON, nullable=False, server_default="[]"),
    Column("revisited_at", UTCDateTime),
    Column("revisited_by", String(200)),
    Column("satisfaction", Integer),
    Column("feedback_at", UTCDateTime),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("late_stages", JSON, nullable=False, server_default="[]"),
    Column("checklist", JSON, nullable=False, server_default="[]"),
    Column("emergency_level", Integer),
    Column("check_at", UTCDateTime),
    sqlite_autoincrement=True,  # never reuse a number: ticket ids are quoted on the phone and on paper
)
_active = tickets.c.status.in_(ACTIVE)
Index("tickets_one_active_per_key", tickets.c.site, tickets.c.dedup_key, unique=True,
      sqlite_where=_active, postgresql_where=_active)
Index("tickets_site_status_due", tickets.c.site, tickets.c.status, tickets.c.due_at)
Index("tickets_site_check", tickets.c.site, tickets.c.check_at)
Index("tickets_site_device", tickets.c.site, tickets.c.device_id)
Index("tickets_site_opened", tickets.c.site, tickets.c.opened_at)

history = Table(
    "ticket_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_seq", Integer, ForeignKey("tickets.seq"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("note", Text, nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16)),
)

suppressions = Table(
    "ticket_suppressions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(100), nullable=False),
    Column("dedup_key", String(400), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("device_id", String(200), nullable=False),
    Column("zone", String(200), nullable=False),
    Column("reason", String(20), nullable=False),  # inhibited | maintenance | drill
    Column("source", String(200), nullable=False),  # the muting ticket id, or the window's name
    Column("note", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    UniqueConstraint("site", "dedup_key", "reason", "source", name="suppressions_one_per_source"),
)

# The rules whose condition holds on a ticket now ("<rule>:<device>"). Several rules can describe one
# fault (a leak and a low pressure): its condition clears when the last of them clears. A table of
# its own, so a store created before it gains it on start-up (create_all adds missing tables).
signals = Table(
    "ticket_signals", metadata,
    Column("ticket_seq", Integer, ForeignKey("tickets.seq"), primary_key=True),
    Column("signal", String(400), primary_key=True),
)

# Columns written from a Ticket of the same name; seq and site never change after insert.
_FIELDS = [c.name for c in tickets.columns if c.name not in ("seq",)]


# Built once: statements with bound parameters hit SQLAlchemy's compiled cache, which matters on
# the hot path (a repeat of an open fault is one UPDATE).
_UPDATE = update(tickets).where(
    (tickets.c.seq == bindparam("b_seq")) & (tickets.c.revision == bindparam("b_revision")))
_INSERT = insert(tickets).returning(tickets.c.seq)
# The alert path's lookups (about 1 ms each on SQLite when the where clause is built per call, most
# of it SQLAlchemy coercing the operators): the same queries, built once, bound per call.
_FIND_ACTIVE = select(tickets).where(
    (tickets.c.site == bindparam("b_site")) & (tickets.c.dedup_key == bindparam("b_key")) & _active)
_ACTIVE_AT = select(tickets).where(
    (tickets.c.site == bindparam("b_site")) & (tickets.c.device_id == bindparam("b_device")) & _active
).order_by(tickets.c.seq)
_LATEST_RESOLVED = select(tickets).where(
    (tickets.c.site == bindparam("b_site")) & (tickets.c.dedup_key == bindparam("b_key"))
    & (tickets.c.status == "resolved")).order_by(tickets.c.seq.desc()).limit(1)
_HISTORY = select(history).where(history.c.ticket_seq.in_(bindparam("b_seqs", expanding=True))).order_by(history.c.id)
_BY_SEQS = select(tickets).where(tickets.c.seq.in_(bindparam("b_seqs", expanding=True))).order_by(tickets.c.seq)
# active_matching's scan: (holding, by zone) -> statement.
_SCAN = {(holding, zoned): select(tickets.c.seq, tickets.c.rule, tickets.c.labels).where(
    (tickets.c.site == bindparam("b_site")) & _active
    & (tickets.c.condition_cleared.is_(False) if holding else true())
    & ((tickets.c.zone.in_(bindparam("b_zones", expanding=True))
        | tickets.c.seq.in_(bindparam("b_seqs", expanding=True))) if zoned else true()))
    for holding in (False, True) for zoned in (False, True)}
_OPEN_COUNTS = (select(tickets.c.device_id, tickets.c.severity, func.count())
                .where((tickets.c.site == bindparam("b_site")) & _active)
                .group_by(tickets.c.device_id, tickets.c.severity))


class DuplicateActiveTicket(SitegateError):
    """Another active ticket already holds this dedup key (the unique index said so)."""


def _row_values(t: Ticket) -> dict[str, Any]:
    return {name: getattr(t, name) for name in _FIELDS}


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so writes can BEGIN IMMEDIATE: a deferred
        # transaction that reads and then writes can deadlock against a second writer and fail at
        # once with "database is locked" instead of waiting its turn.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


class TicketStore:
    """Owns the engine and the schema; hands out transactions (`Tx`) for the service to work in."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:"):
                # One shared connection, or every pool checkout would see a different empty database.
                kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
            else:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                kwargs = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        self.url = url
        self.engine = create_engine(url, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            _sqlite_setup(self.engine)
        metadata.create_all(self.engine)
        _add_missing_columns(self.engine)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One transaction that may write; committed when the block ends without an error."""
        with self.engine.connect() as conn:
            conn.execution_options(write=True)
            with conn.begin():
                yield Tx(conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.engine.connect() as conn, conn.begin():
            yield Tx(conn)

    def close(self) -> None:
        self.engine.dispose()


class Tx:
    """The repository: every query the ticket service needs, inside one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # The earliest deadline (check_at, next_escalation_at) among the tickets this transaction
        # wrote, None if none: TicketService keeps its memoised next deadline at or below every
        # deadline in the store by taking this in after each commit, instead of reading them all again.
        self.earliest_written: datetime | None = None

    def _wrote(self, t: Ticket) -> None:
        for at in (t.check_at, t.next_escalation_at):
            if at is not None and (self.earliest_written is None or at < self.earliest_written):
                self.earliest_written = at

    # -- reading -----------------------------------------------------------------------------

    def _load(self, where: Any, *, order: Any = None, limit: int | None = None) -> list[Ticket]:
        query = select(tickets).where(where)
        if order is not None:
            query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        rows = self.conn.execute(query).mappings().all()
        found = [Ticket(**row) for row in rows]
        if found:
            self._attach_history(found)
        return found

    def _load_bound(self, query: Any, params: dict[str, Any]) -> list[Ticket]:
        """_load for a statement built once (_FIND_ACTIVE, _ACTIVE_AT, ...) and its bound values."""
        found = [Ticket(**row) for row in self.conn.execute(query, params).mappings().all()]
        if found:
            self._attach_history(found)
        return found

    def _attach_history(self, found: list[Ticket]) -> None:
        by_seq = {t.seq: t for t in found}
        seqs = list(by_seq)
        # Chunked: SQLite caps bound parameters per statement.
        for i in range(0, len(seqs), 500):
            chunk = seqs[i:i + 500]
            rows = self.conn.execute(_HISTORY, {"b_seqs": chunk}).mappings().all()
            for row in rows:
                by_seq[row["ticket_seq"]].history.append(HistoryEntry(
                    at=row["at"], actor=row["actor"], action=row["action"], note=row["note"],
                    from_status=row["from_status"], to_status=row["to_status"]))

    def get(self, site: str, ticket_id: str) -> Ticket | None:
        seq = ticket_seq(ticket_id)
        if seq is None:
            return None
        found = self._load((tickets.c.seq == seq) & (tickets.c.site == site))
        return found[0] if found else None

    def find_active(self, site: str, key: str) -> Ticket | None:
        found = self._load_bound(_FIND_ACTIVE, {"b_site": site, "b_key": key})
        return found[0] if found else None

    def latest_resolved(self, site: str, key: str) -> Ticket | None:
        found = self._load_bound(_LATEST_RESOLVED, {"b_site": site, "b_key": key})
        return found[0] if found else None

    def keys_held(self, site: str, keys: Sequence[str]) -> set[str]:
        """Those of `keys` that a ticket holds, whatever its status (a planned occurrence that was done
        must not open again)."""
        held: set[str] = set()
        for i in range(0, len(keys), 500):  # chunked: SQLite caps bound parameters per statement
            held.update(self.conn.execute(select(tickets.c.dedup_key).distinct().where(
                (tickets.c.site == site) & tickets.c.dedup_key.in_(keys[i:i + 500]))).scalars())
        return held

    def active(self, site: str) -> list[Ticket]:
        return self._load((tickets.c.site == site) & _active)

    def active_at(self, site: str, device: str) -> list[Ticket]:
        """The active tickets of one device, oldest first."""
        return self._load_bound(_ACTIVE_AT, {"b_site": site, "b_device": device})

    def active_matching(self, site: str, wanted: Callable[[str, dict[str, str]], bool], *,
                        holding: bool = False, zones: Collection[str] | None = None,
                        seqs: Collection[int] = ()) -> list[Ticket]:
        """Active tickets whose rule and labels `wanted` accepts, oldest first; with `holding`, only
        those whose condition still holds (a root cause that still explains its symptoms); with
        `zones`, only those of these zones, or whose seq is in `seqs`."""
        params: dict[str, Any] = {"b_site": site}
        if zones is not None:
            params.update(b_zones=list(zones), b_seqs=list(seqs))
        rows = self.conn.execute(_SCAN[holding, zones is not None], params).all()
        wanted_seqs = [seq for seq, rule, labels in rows if wanted(rule, labels or {})]
        return self._load_bound(_BY_SEQS, {"b_seqs": wanted_seqs}) if wanted_seqs else []

    def due(self, site: str, now: datetime) -> list[Ticket]:
        """Tickets with a deadline or an escalation step at or before `now` not yet acted on."""
        return self._load(
            (tickets.c.site == site)
            & tickets.c.status.in_((*ACTIVE, "resolved"))
            & or_(tickets.c.check_at <= now, tickets.c.next_escalation_at <= now),
            order=[tickets.c.seq],
        )

    def next_deadline(self, site: str) -> datetime | None:
        """The earliest moment due() will return a ticket (None: no deadline is pending)."""
        live = (tickets.c.site == site) & tickets.c.status.in_((*ACTIVE, "resolved"))
        due, escalation = self.conn.execute(
            select(func.min(tickets.c.check_at), func.min(tickets.c.next_escalation_at)).where(live)).one()
        found: list[datetime] = [t for t in (due, escalation) if t is not None]
        return min(found) if found else None

    def search(self, site: str, *, status: str | None = None, device: str | None = None,
               zone: str | None = None, severity: str | None = None, overdue: bool | None = None,
               source: str | None = None, limit: int = 500) -> list[Ticket]:
        where = tickets.c.site == site
        for column, value in (("status", status), ("device_id", device), ("zone", zone),
                              ("severity", severity), ("overdue", overdue), ("source", source)):
            if value is not None:
                where = where & (tickets.c[column] == value)
        return self._load(where, order=[tickets.c.seq.desc()], limit=limit)

    def touching(self, site: str, since: datetime, until: datetime) -> list[Ticket]:
        """What a report over a period reads: the tickets opened in [since, until), and those opened
        before `until` that are still live (open, acknowledged or resolved), whose deadlines may
        still fall anywhere. Both parts run on indexes (site + opened_at, site + status)."""
        live = tickets.c.status.in_((*ACTIVE, "resolved"))
        return self._load((tickets.c.site == site) & (tickets.c.opened_at < until)
                          & ((tickets.c.opened_at >= since) | live), order=[tickets.c.seq])

    def open_counts(self, site: str) -> dict[str, dict[str, int]]:
        rows = self.conn.execute(_OPEN_COUNTS, {"b_site": site}).all()
        counts: dict[str, dict[str, int]] = {}
        for device, severity, n in rows:
            counts.setdefault(device, {})[severity] = int(n)
        return counts

    def severity_counts(self, site: str) -> dict[str, tuple[int, int]]:
        """Active tickets per severity: (all, overdue)."""
        rows = self.conn.execute(
            select(tickets.c.severity, tickets.c.overdue, func.count())
            .where((tickets.c.site == site) & _active).group_by(tickets.c.severity, tickets.c.overdue)
        ).all()
        counts: dict[str, tuple[int, int]] = {}
        for severity, overdue, n in rows:
            active, late = counts.get(severity, (0, 0))
            counts[severity] = (active + int(n), late + (int(n) if overdue else 0))
        return counts

    def suppressions(self, site: str, limit: int = 500) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(suppressions).where(suppressions.c.site == site)
            .order_by(suppressions.c.last_at.desc(), suppressions.c.id.desc()).limit(limit)
        ).mappings().all()
        return [dict(row) for row in rows]

    # -- writing -----------------------------------------------------------------------------

    def insert(self, t: Ticket) -> Ticket:
        """Store a new ticket (seq assigned) or raise DuplicateActiveTicket."""
        try:
            # A savepoint, so a lost race leaves the surrounding transaction usable (PostgreSQL
            # aborts the whole transaction on a failed statement otherwise).
            with self.conn.begin_nested():
                seq = self.conn.execute(_INSERT, {**_row_values(t), "revision": 1}).scalar_one()
        except IntegrityError as exc:
            raise DuplicateActiveTicket(f"An active ticket already exists for {t.dedup_key}.") from exc
        saved = _copy(t, seq=int(seq), revision=1)
        self._append_history(saved.seq, saved.history)
        self._wrote(saved)
        return saved

    def save(self, t: Ticket, *, base: Ticket) -> Ticket | None:
        """Write `t` over `base` if nobody changed the row since `base` was read; None if they did.

        Raises DuplicateActiveTicket when the change would make a second active ticket (a reopen).
        """
        params = {**_row_values(t), "revision": base.revision + 1,
                  "b_seq": base.seq, "b_revision": base.revision}
        if t.status in ACTIVE and base.status not in ACTIVE:
            # Only a ticket becoming active again can hit the unique index: a savepoint for those.
            try:
                with self.conn.begin_nested():
                    result = self.conn.execute(_UPDATE, params)
            except IntegrityError as exc:
                raise DuplicateActiveTicket(f"An active ticket already exists for {t.dedup_key}.") from exc
        else:
            result = self.conn.execute(_UPDATE, params)
        if result.rowcount != 1:
            return None
        self._append_history(t.seq, t.history[len(base.history):])
        self._wrote(t)
        return _copy(t, seq=base.seq, revision=base.revision + 1)

    def _append_history(self, seq: int, entries: Sequence[HistoryEntry]) -> None:
        if entries:
            self.conn.execute(insert(history), [
                {"ticket_seq": seq, "at": h.at, "actor": h.actor, "action": h.action, "note": h.note,
                 "from_status": h.from_status, "to_status": h.to_status} for h in entries])

    def add_signal(self, seq: int, signal: str) -> None:
        """Note that `signal` fires on ticket `seq` (once, however often it fires)."""
        if self.has_signal(seq, signal):
            return
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(signals).values(ticket_seq=seq, signal=signal))
        except IntegrityError:
            pass  # another gateway noted it a moment ago

    def has_signal(self, seq: int, signal: str) -> bool:
        """Whether `signal` fires on ticket `seq` now."""
        where = (signals.c.ticket_seq == seq) & (signals.c.signal == signal)
        return self.conn.execute(select(literal(1)).where(where)).first() is not None

    def drop_signal(self, seq: int, signal: str) -> int:
        """`signal` cleared on ticket `seq`; answers how many other signals still fire on it."""
        self.conn.execute(signals.delete().where((signals.c.ticket_seq == seq) & (signals.c.signal == signal)))
        return int(self.conn.execute(select(func.count()).where(signals.c.ticket_seq == seq)).scalar_one())

    def record_suppression(self, *, site: str, key: str, rule: str, device: str, zone: str, reason: str,
                           source: str, note: str, title: str, at: datetime) -> bool:
        """Count a muted event; True when it is the first for this key and source."""
        where = ((suppressions.c.site == site) & (suppressions.c.dedup_key == key)
                 & (suppressions.c.reason == reason) & (suppressions.c.source == source))
        when = literal(at, UTCDateTime())
        latest = func.max if self.conn.dialect.name == "sqlite" else func.greatest  # two-argument max
        bump = update(suppressions).where(where).values(
            count=suppressions.c.count + 1, last_at=latest(suppressions.c.last_at, when, type_=UTCDateTime()),
            note=note, title=title)
        if self.conn.execute(bump).rowcount:
            return False
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(suppressions).values(
                    site=site, dedup_key=key, rule=rule, device_id=device, zone=zone, reason=reason,
                    source=source, note=note, title=title, first_at=at, last_at=at, count=1))
            return True
        except IntegrityError:
            # Another gateway recorded the first one a moment ago.
            self.conn.execute(bump)
            return False


def _add_missing_columns(engine: Engine) -> None:
    """A store made by an earlier version lacks the newer columns: add them (create_all adds only
    missing tables). Each has a server default or allows NULL, so the rows already there stay valid."""
    present = {c["name"] for c in inspect(engine).get_columns("tickets")}
    missing = [c for c in tickets.columns if c.name not in present]
    if not missing:
        return
    with engine.begin() as conn:
        for column in missing:
            ddl = CreateColumn(column).compile(dialect=engine.dialect)
            conn.exec_driver_sql(f"ALTER TABLE tickets ADD COLUMN {ddl}")
        if "check_at" in {c.name for c in missing}:
            # The deadline watch used to be "due_at, unless already overdue": carry it over.
            conn.execute(update(tickets).where(tickets.c.overdue.is_(False)).values(check_at=tickets.c.due_at))


def _copy(t: Ticket, *, seq: int, revision: int) -> Ticket:
    new = copy.copy(t)
    new.seq, new.revision = seq, revision
    return new

