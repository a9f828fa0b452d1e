"""The head office store on SQLite and on a real PostgreSQL: an event stored once however often it
arrives, the highest ticket revision kept whatever the order, guards that hold for two writers at once,
and bad input kept as dead letters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.fleet import samples
from gateway.fleet.events import BadEvent, FleetEvent, parse_event
from gateway.fleet.store import FleetStore, Rejected
from tests.support import postgres

TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if not postgres.available():
        pytest.skip(f"PostgreSQL 15 server binaries not found in {postgres.PG_BIN}")
    with postgres.postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FleetStore]:
    if request.param == "sqlite":
        s = FleetStore(f"sqlite:///{tmp_path / 'hq.db'}")
    else:
        url = request.getfixturevalue("pg_url")
        s = FleetStore(url)
        with s.engine.begin() as conn:  # each test starts empty on the module's server
            for table in ("hq_events", "hq_tickets", "hq_rounds", "hq_devices", "hq_sites", "hq_deadletters"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    yield s
    s.close()


def ev(doc: dict[str, Any]) -> FleetEvent:
    return parse_event(samples.topic(doc["site"], samples.kind_of(doc)), samples.encode(doc))


def ticket_ev(site: str, tid: str, revision: int, status: str = "open", **kw: Any) -> FleetEvent:
    data = samples.ticket(tid, opened_at=T0, revision=revision, status=status, **kw)
    return ev(samples.ticket_event(site, data, T0 + timedelta(minutes=revision)))


def test_the_same_event_twice_is_one_row(store: FleetStore) -> None:
    e = ticket_ev("a", "T-1", 1)
    first = store.write_batch([e])
    again = store.write_batch([e, e])
    assert (first.stored, first.duplicates) == (1, 0)
    assert (again.stored, again.duplicates) == (0, 2)
    assert store.event_count() == 1
    assert len(store.tickets()) == 1


def test_out_of_order_revisions_keep_the_highest(store: FleetStore) -> None:
    store.write_batch([ticket_ev("a", "T-1", 3, "acknowledged")])
    store.write_batch([ticket_ev("a", "T-1", 1, "open"), ticket_ev("a", "T-1", 2, "open")])
    [(site, body, _due)] = store.tickets()
    assert (site, body["revision"], body["status"]) == ("a", 3, "acknowledged")
    store.write_batch([ticket_ev("a", "T-1", 4, "closed")])
    assert store.tickets()[0][1]["status"] == "closed"
    assert store.event_count() == 4


def test_the_same_ticket_id_at_two_sites_is_two_tickets(store: FleetStore) -> None:
    store.write_batch([ticket_ev("a", "T-1", 1), ticket_ev("b", "T-1", 1)])
    assert sorted(s for s, _b, _d in store.tickets()) == ["a", "b"]


def test_counts_and_overdue_are_judged_at_read_time(store: FleetStore) -> None:
    due = T0 + timedelta(hours=2)
    store.write_batch([
        ticket_ev("a", "T-1", 1, severity="critical", deadlines={"respond": due}),
        ticket_ev("a", "T-2", 1, deadlines={"respond": due + timedelta(hours=1)}),
        ticket_ev("a", "T-3", 2, status="closed", severity="critical", deadlines={"respond": due}),
    ])
    before = store.site_rows((due - timedelta(seconds=1)).timestamp())[0]
    at = store.site_rows(due.timestamp())[0]
    after = store.site_rows((due + timedelta(hours=2)).timestamp())[0]
    assert (before["open_tickets"], before["critical_tickets"], before["overdue_tickets"]) == (2, 1, 0)
    assert at["overdue_tickets"] == 1
    assert after["overdue_tickets"] == 2


def test_a_done_stage_is_not_overdue(store: FleetStore) -> None:
    due = T0 + timedelta(hours=1)
    store.write_batch([ticket_ev("a", "T-1", 2, status="acknowledged",
                                 deadlines={"respond": due, "resolve": due + timedelta(hours=5)},
                                 done={"respond": T0 + timedelta(minutes=10)})])
    row = store.site_rows((due + timedelta(hours=1)).timestamp())[0]
    assert row["overdue_tickets"] == 0  # responded in time; resolve is due later
    assert store.site_rows((due + timedelta(hours=6)).timestamp())[0]["overdue_tickets"] == 1


def test_device_state_keeps_the_latest_and_last_heard_only_moves_forward(store: FleetStore) -> None:
    late = ev(samples.device_event("a", "lamp-1", online=False, since=T0 + timedelta(minutes=5)))
    early = ev(samples.device_event("a", "lamp-1", online=True, since=T0))
    store.write_batch([late])
    store.write_batch([early])
    row = store.site_rows(T0.timestamp())[0]
    assert (row["devices_known"], row["devices_offline_known"]) == (1, 1)
    assert row["last_heard"] == (T0 + timedelta(minutes=5)).timestamp()


def test_health_keeps_the_latest_and_the_site_name(store: FleetStore) -> None:
    new = ev(samples.health_event("a", T0 + timedelta(minutes=2), status="degraded", timeliness_month=0.9))
    old = ev(samples.health_event("a", T0, status="ok", timeliness_month=0.5))
    store.write_batch([new])
    store.write_batch([old])
    row = store.site_rows(T0.timestamp())[0]
    assert row["health"]["status"] == "degraded" and row["health"]["timeliness_month"] == 0.9
    assert row["name"] == "Site a"


def test_rounds_are_counted_by_the_night_they_began(store: FleetStore) -> None:
    evening = datetime(2026, 11, 19, 22, 0, tzinfo=TZ)
    store.write_batch([
        ev(samples.round_event("a", "r1", scheduled_start=evening, expected=10, visited=9, at=evening)),
        ev(samples.round_event("a", "r2", scheduled_start=evening + timedelta(hours=4), expected=10, visited=7,
                               at=evening)),  # 02:00 the next morning: the same night
        ev(samples.round_event("a", "r3", scheduled_start=evening + timedelta(days=1), expected=5, visited=5,
                               at=evening)),
    ])
    assert store.coverage_by_site(evening.date()) == {"a": (16, 20)}


def test_bad_messages_are_dead_letters_with_their_reason(store: FleetStore) -> None:
    reasons = []
    for topic, payload in [("sitegate/a/events/ticket", b"{not json"),
                           ("sitegate/a/events/ticket", b'{"v": 2}'),
                           ("sitegate/a/events/nope", b"{}"),
                           ("sitegate/b/events/ticket", samples.encode(samples.ticket_event(
                               "a", samples.ticket("T-1", opened_at=T0), T0)))]:
        with pytest.raises(BadEvent) as caught:
            parse_event(topic, payload)
        reasons.append(caught.value.reason)
        store.write_batch([], [Rejected(topic, caught.value.reason, str(caught.value), payload)])
    assert reasons == ["bad_json", "bad_version", "bad_topic", "bad_field"]
    letters = store.deadletters()
    assert [d["reason"] for d in letters] == list(reversed(reasons))
    assert "differs from the topic's site" in letters[0]["detail"]
    assert store.event_count() == 0


def test_two_writers_at_once_store_each_event_once_and_the_highest_revision(store: FleetStore) -> None:
    """Overlapping batches committed concurrently (two replicas): no duplicate, no lost revision."""
    batches = [[ticket_ev("a", f"T-{i}", rev) for i in range(30) for rev in revs] for revs in ((1, 3), (2, 3, 1))]
    errors: list[BaseException] = []

    def write(batch: list[FleetEvent]) -> None:
        try:
            for start in range(0, len(batch), 10):
                store.write_batch(batch[start:start + 10])
        except BaseException as exc:  # collected, so the test says what failed
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.event_count() == 90  # 30 tickets x revisions 1, 2, 3
    assert {body["revision"] for _s, body, _d in store.tickets()} == {3}


def test_old_health_events_are_pruned_and_the_latest_health_stays(store: FleetStore) -> None:
    store.write_batch([ev(samples.health_event("a", T0 - timedelta(days=d), status="ok")) for d in (0, 8, 9)]
                      + [ticket_ev("a", "T-1", 1)])
    gone = store.prune("health", (T0 - timedelta(days=7)).timestamp())
    assert gone == 2 and store.event_count() == 2  # today's health and the ticket
    assert store.site_rows(T0.timestamp())[0]["health"]["status"] == "ok"
