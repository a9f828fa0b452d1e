"""The ticket store tests again on a real PostgreSQL, started here in a temp dir on a free port.

Also proves what only a server with real concurrent transactions can: two gateways inserting the same
fault at the same instant get one ticket, the loser counting its event on the winner's ticket.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore, metadata
from tests.support.mosquitto import free_port, wait_port
from tests.test_tickets_service import TZ, ev, make
from tests.test_tickets_store import *  # noqa: F403  (the same tests, collected again with the fixture below)

del test_sqlite_runs_in_wal_mode  # noqa: F821  (a SQLite setting; nothing to run on PostgreSQL)

PG_BIN = Path("/usr/lib/postgresql/15/bin")

pytestmark = pytest.mark.skipif(not (PG_BIN / "postgres").exists(),
                                reason=f"PostgreSQL 15 server binaries not found in {PG_BIN} "
                                       "(the Makefile installs the postgresql package)")


def _as_postgres_user() -> dict[str, Any]:
    # The server refuses to run as root; use the Debian `postgres` account (or nobody) then.
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid}
    raise RuntimeError("Running as root with neither a postgres nor a nobody account to run the server.")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="sitegate-pg-"))
    who = _as_postgres_user()
    if who:
        os.chown(base, who["user"], who["group"])
    data, port = base / "data", free_port()
    subprocess.run([PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True, **who)
    proc = subprocess.Popen(
        [PG_BIN / "postgres", "-D", data, "-p", str(port), "-k", base, "-c", "listen_addresses=127.0.0.1",
         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        stdout=subprocess.DEVNULL, stderr=open(base / "server.log", "wb"), **who)  # noqa: SIM115
    try:
        wait_port(port, timeout=30)
        for _ in range(100):  # the port opens a moment before the server accepts logins
            ready = subprocess.run([PG_BIN / "pg_isready", "-h", "127.0.0.1", "-p", str(port)], check=False,
                                   capture_output=True)
            if ready.returncode == 0:
                break
            threading.Event().wait(0.1)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        proc.send_signal(signal.SIGINT)  # "fast" shutdown: do not wait for idle pooled connections
        proc.wait(30)
        shutil.rmtree(base, ignore_errors=True)


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
