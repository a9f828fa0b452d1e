"""The ticket store tests again on a real PostgreSQL, started here in a temp dir on a free port.

Also proves what only a server with real concurrent transactions can: two gateways inserting the same
fault at the same instant get one ticket, the loser counting its event on the winner's ticket.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore, metadata
from tests.support import postgres
from tests.test_tickets_service import TZ, ev, make
from tests.test_tickets_store import *  # noqa: F403  (the same tests, collected again with the fixture below)

del test_sqlite_runs_in_wal_mode  # noqa: F821  (a SQLite setting; nothing to run on PostgreSQL)

pytestmark = pytest.mark.skipif(not postgres.available(),
                                reason=f"PostgreSQL 15 server binaries not found in {postgres.PG_BIN} "
                                       "(the Makefile installs the postgresql package)")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres.postgres() as url:
        yield url


@pytest.fixture  # type: ignore[no-redef]
def store(pg_url: str) -> Iterator[TicketStore]:  # replaces the SQLite fixture
    s = TicketStore(pg_url)
    yield s
    metadata.drop_all(s.engine)
    s.close()


def test_postgres_racing_services_open_one_ticket_per_fault(store: TicketStore, pg_url: str) -> None:
    extra = [TicketStore(pg_url), TicketStore(pg_url)]
    services = [make(store), *(make(s) for s in extra)]
    barrier = threading.Barrier(len(services))
    errors: list[BaseException] = []

    def fire(svc: TicketService, n: int) -> None:
        try:
            barrier.wait(10)
            for i in range(15):
                svc.handle([ev(device=f"ext-{i % 3}"), ev(device="ext-shared", value=float(n))])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fire, args=(s, n)) for n, s in enumerate(services)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in extra:
        s.close()
    assert not errors, errors
    tickets = {t.device_id: t for t in services[0].list()}
    assert sorted(tickets) == ["ext-0", "ext-1", "ext-2", "ext-shared"]
    assert tickets["ext-shared"].occurrences == 45
    assert sum(t.occurrences for t in tickets.values()) == 90


def test_postgres_times_come_back_in_site_time(store: TicketStore) -> None:
    svc = TicketService(store, site_id="hv", tz=TZ, policy=TicketPolicy())
    [t] = svc.handle([ev()])
    assert svc.get(t.id).to_json()["opened_at"] == "2026-11-23T21:00:00+08:00"  # type: ignore[union-attr]
