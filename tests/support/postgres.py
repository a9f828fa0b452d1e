"""A real PostgreSQL server for tests, in a temp dir on a free port (the pattern of
tests/test_tickets_store_postgres.py, as a context manager several test files can share)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.mosquitto import free_port, wait_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> bool:
    return (PG_BIN / "postgres").exists()


def _as_postgres_user() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid}
    raise RuntimeError("Running as root with neither a postgres nor a nobody account to run the server.")


@contextmanager
def postgres() -> Iterator[str]:
    """Yields a SQLAlchemy URL (psycopg 3) of a fresh server; stopped and removed after."""
    base = Path(tempfile.mkdtemp(prefix="sitegate-pg-"))
    who = _as_postgres_user()
    if who:
        os.chown(base, who["user"], who["group"])
    data, port = base / "data", free_port()
    subprocess.run([PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, **who)
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
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        shutil.rmtree(base, ignore_errors=True)
