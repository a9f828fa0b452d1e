"""The ticket store on SQLite. tests/test_tickets_store_postgres.py runs these same tests on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from gateway.core.model import AlertEvent
from gateway.tickets.changes import apply_action, open_ticket
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.store import DuplicateActiveTicket, TicketStore, tickets
from gateway.tickets.ticket import HistoryEntry, Ticket

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)
POLICY = TicketPolicy()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TicketStore]:
    s = TicketStore(f"sqlite:///{tmp_path}/data/tickets.db")
    yield s
    s.close()


def new_ticket(device: str = "ext-1", *, site: str = "hv", value: float | bool | str | None = 0.8) -> Ticket:
    ev = AlertEvent(rule="fire.pressure_low", device=device, zone="b1", state="firing", severity="minor",
                    title="低压 Low pressure", ts=T0, value=value, labels={"circuit": "C3"})
    return open_ticket(ev, site=site, policy=POLICY, tz=TZ)


def test_insert_assigns_readable_ids_and_reads_back_every_field(store: TicketStore) -> None:
    with store.write() as tx:
        a = tx.insert(new_ticket("ext-1"))
        b = tx.insert(new_ticket("ext-2", value=True))
    assert (a.id, b.id) == ("T-000001", "T-000002") and a.revision == 1
    with store.read() as tx:
        back = tx.get("hv", "T-000001")
        assert tx.get("other-site", "T-000001") is None
        assert tx.get("hv", "X-1") is None
    assert back is not None
    assert back.to_json(TZ) == a.to_json(TZ)
    assert back.opened_at == T0 and back.opened_at.utcoffset() == timedelta(0)  # the store answers in UTC
    assert back.labels == {"circuit": "C3"} and back.title == "低压 Low pressure"
    with store.read() as tx:
        assert tx.get("hv", "T-000002").last_value is True  # type: ignore[union-attr]


def test_one_active_ticket_per_key_is_enforced_by_the_database(store: TicketStore) -> None:
    with store.write() as tx:
        tx.insert(new_ticket())
        with pytest.raises(DuplicateActiveTicket):
            tx.insert(new_ticket())
        tx.insert(new_ticket(site="other-site"))  # the same key at another site is another fault
    # The failed insert did not spoil the transaction: both good rows committed.
    with store.read() as tx:
        assert len(tx.search("hv")) == 1 and len(tx.search("other-site")) == 1


def test_the_unique_index_itself_refuses_raw_duplicates(store: TicketStore) -> None:
    with store.write() as tx:
        tx.insert(new_ticket())
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), store.engine.begin() as conn:
        others = ", ".join(c.name for c in tickets.columns if c.name != "seq")
        conn.execute(text(f"INSERT INTO tickets SELECT seq + 100, {others} FROM tickets"))


def test_resolved_tickets_free_the_key(store: TicketStore) -> None:
    with store.write() as tx:
        first = tx.insert(new_ticket())
        done = apply_action(first, "resolve", actor="wang", note="", now=T0 + timedelta(hours=1),
                            policy=POLICY, tz=TZ)
        assert tx.save(done, base=first) is not None
        second = tx.insert(new_ticket())
        assert tx.find_active("hv", second.dedup_key).seq == second.seq  # type: ignore[union-attr]
        assert tx.latest_resolved("hv", first.dedup_key).seq == first.seq  # type: ignore[union-attr]


def test_keys_held_names_the_keys_any_ticket_of_the_site_holds_whatever_its_status(store: TicketStore) -> None:
    with store.write() as tx:
        first = tx.insert(new_ticket("ext-1"))
        done = apply_action(first, "resolve", actor="wang", note="", now=T0 + timedelta(hours=1),
                            policy=POLICY, tz=TZ)
        assert tx.save(done, base=first) is not None
        second = tx.insert(new_ticket("ext-2"))
        elsewhere = tx.insert(new_ticket("ext-3", site="other-site"))
    keys = [first.dedup_key, second.dedup_key, elsewhere.dedup_key, "nobody:has-it"]
    keys += [f"filler:{i}" for i in range(600)]  # more than one statement's worth of parameters
    with store.read() as tx:
        assert tx.keys_held("hv", keys) == {first.dedup_key, second.dedup_key}
        assert tx.keys_held("hv", []) == set()


def test_save_refuses_a_stale_revision_and_appends_only_new_history(store: TicketStore) -> None:
    with store.write() as tx:
        base = tx.insert(new_ticket())
        acked = apply_action(base, "ack", actor="wang", note="coming", now=T0, policy=POLICY, tz=TZ)
        saved = tx.save(acked, base=base)
        assert saved is not None and saved.revision == 2
        stale = apply_action(base, "cancel", actor="li", note="", now=T0, policy=POLICY, tz=TZ)
        assert tx.save(stale, base=base) is None
    with store.read() as tx:
        back = tx.get("hv", base.id)
    assert back is not None and back.status == "acknowledged" and back.revision == 2
    assert [h.action for h in back.history] == ["opened", "acknowledged"]
    assert back.history[1] == HistoryEntry(at=T0, actor="wang", action="acknowledged", note="coming",
                                           from_status="open", to_status="acknowledged")


def test_due_finds_only_tickets_with_something_to_do(store: TicketStore) -> None:
    with store.write() as tx:
        t = tx.insert(new_ticket())  # minor: respond by T0 + 24 h
    with store.read() as tx:
        assert tx.due("hv", T0 + timedelta(hours=23)) == []
        assert [x.seq for x in tx.due("hv", T0 + timedelta(hours=24))] == [t.seq]


def test_search_filters_and_counts(store: TicketStore) -> None:
    with store.write() as tx:
        for i in range(3):
            tx.insert(new_ticket(f"ext-{i}"))
    with store.read() as tx:
        assert [t.device_id for t in tx.search("hv", limit=2)] == ["ext-2", "ext-1"]
        assert [t.device_id for t in tx.search("hv", device="ext-0", status="open")] == ["ext-0"]
        assert tx.search("hv", severity="critical") == []
        assert tx.open_counts("hv") == {f"ext-{i}": {"minor": 1} for i in range(3)}


def test_suppressions_count_per_key_and_source(store: TicketStore) -> None:
    kw = {"site": "hv", "rule": "lighting.lamp_out", "device": "lamp-1", "zone": "north",
          "reason": "inhibited", "source": "T-000001", "note": "outage", "title": "lamp out"}
    with store.write() as tx:
        assert tx.record_suppression(key="k1", at=T0, **kw) is True
        assert tx.record_suppression(key="k1", at=T0 + timedelta(minutes=5), **kw) is False
        assert tx.record_suppression(key="k2", at=T0, **kw) is True
    with store.read() as tx:
        rows = {r["dedup_key"]: r for r in tx.suppressions("hv")}
    assert rows["k1"]["count"] == 2 and rows["k1"]["last_at"] == T0 + timedelta(minutes=5)
    assert rows["k1"]["first_at"] == T0 and rows["k2"]["count"] == 1


def test_parallel_writers_on_separate_engines_serialise(store: TicketStore) -> None:
    """Two gateways racing to open the same fault: exactly one insert wins, none errors out otherwise."""
    other = TicketStore(store.url)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def race(s: TicketStore) -> None:
        barrier.wait(5)
        try:
            with s.write() as tx:
                if tx.find_active("hv", new_ticket().dedup_key) is None:
                    tx.insert(new_ticket())
                    outcomes.append("inserted")
                else:
                    outcomes.append("found")
        except DuplicateActiveTicket:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=race, args=(s,)) for s in (store, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    other.close()
    assert sorted(outcomes) in (["found", "inserted"], ["duplicate", "inserted"])
    with store.read() as tx:
        assert len(tx.active("hv")) == 1


def test_sqlite_runs_in_wal_mode(store: TicketStore) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("WAL is a SQLite setting")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_alert_paths_lookups_bind_their_values_per_call(store: TicketStore) -> None:
    """find_active, active_at, active_matching and open_counts run statements built once: each call
    must still see only its own site, key, device, zones and seqs (hand-worked below)."""
    def add(device: str, *, site: str = "hv", zone: str = "b1", status: str = "open", cleared: bool = False,
            severity: str = "minor", key: str = "") -> Ticket:
        t = new_ticket(device, site=site)
        t.dedup_key = key or t.dedup_key
        t.zone, t.status, t.condition_cleared, t.severity = zone, status, cleared, severity
        with store.write() as tx:
            return tx.insert(t)

    a = add("lamp-1")
    b = add("lamp-1", zone="b2", cleared=True, key="fire.silent:lamp-1")  # another fault, same device
    c = add("lamp-2", zone="b2", status="acknowledged", severity="major")
    add("lamp-3", status="resolved")
    other = add("lamp-1", site="other")
    assert a.dedup_key == other.dedup_key  # same key, another site
    with store.read() as tx:
        assert tx.find_active("hv", a.dedup_key).seq == a.seq  # type: ignore[union-attr]
        assert tx.find_active("hv", "fire.silent:lamp-1").seq == b.seq  # type: ignore[union-attr]
        assert tx.find_active("other", a.dedup_key).seq == other.seq  # type: ignore[union-attr]
        assert tx.find_active("hv", "fire.pressure_low:lamp-3") is None  # resolved only
        assert [t.seq for t in tx.active_at("hv", "lamp-1")] == [a.seq, b.seq]
        assert [t.seq for t in tx.active_at("other", "lamp-1")] == [other.seq]
        assert tx.active_at("hv", "lamp-3") == []
        assert tx.active_at("hv", "lamp-1")[0].history == a.history  # loaded with their history
        every = lambda _rule, _labels: True  # noqa: E731
        assert [t.seq for t in tx.active_matching("hv", every)] == [a.seq, b.seq, c.seq]
        assert [t.seq for t in tx.active_matching("hv", every, holding=True)] == [a.seq, c.seq]
        assert [t.seq for t in tx.active_matching("hv", every, zones={"b2"})] == [b.seq, c.seq]
        assert [t.seq for t in tx.active_matching("hv", every, zones={"b2"}, holding=True)] == [c.seq]
        assert [t.seq for t in tx.active_matching("hv", every, zones=set(), seqs={a.seq})] == [a.seq]
        assert tx.active_matching("hv", every, zones=set()) == []
        assert tx.active_matching("hv", lambda _rule, labels: labels.get("circuit") == "C4") == []
        assert tx.open_counts("hv") == {"lamp-1": {"minor": 2}, "lamp-2": {"major": 1}}
        assert tx.open_counts("other") == {"lamp-1": {"minor": 1}}


def test_latest_resolved_is_the_newest_resolved_ticket_of_the_key_at_the_site(store: TicketStore) -> None:
    def add(status: str, *, site: str = "hv") -> Ticket:
        t = new_ticket("ext-9", site=site)
        t.status = status
        with store.write() as tx:
            return tx.insert(t)

    add("resolved")
    newer = add("resolved")
    add("open")  # active: not a resolved one
    add("resolved", site="other")  # newest of all, but another site's
    with store.read() as tx:
        assert tx.latest_resolved("hv", newer.dedup_key).seq == newer.seq  # type: ignore[union-attr]
        assert tx.latest_resolved("hv", "fire.pressure_low:ext-0") is None
