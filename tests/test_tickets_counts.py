"""Open ticket counts for health scores: cached, and never a wait on the tickets database."""

from __future__ import annotations

import threading

from gateway.tickets.counts import OpenTicketCounts
from tests.support.gateway_proc import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowDatabase:
    """Answers the first read at once; later reads wait until `release` is set."""

    def __init__(self) -> None:
        self.reads = 0
        self.waiting = threading.Event()
        self.release = threading.Event()

    def open_counts(self) -> dict[str, dict[str, int]]:
        self.reads += 1
        if self.reads > 1:
            self.waiting.set()
            self.release.wait(10)
        return {"lamp-1": {"minor": self.reads}}


def call_in_thread(counts: OpenTicketCounts, device: str) -> tuple[threading.Event, list[dict[str, int]]]:
    answered, out = threading.Event(), []

    def run() -> None:
        out.append(dict(counts(device)))
        answered.set()

    threading.Thread(target=run, daemon=True).start()
    return answered, out


def test_counts_are_read_once_per_ttl() -> None:
    db, clock = SlowDatabase(), Clock()
    db.release.set()
    counts = OpenTicketCounts(db.open_counts, ttl=2.0, monotonic=clock)
    assert counts("lamp-1") == {"minor": 1} and counts("other") == {}
    clock.now = 1.9
    assert counts("lamp-1") == {"minor": 1}
    assert db.reads == 1


def test_a_caller_gets_the_last_counts_at_once_while_a_slow_database_refreshes_them() -> None:
    db, clock = SlowDatabase(), Clock()
    counts = OpenTicketCounts(db.open_counts, ttl=2.0, monotonic=clock)
    clock.now = 5.0  # stale: the next call starts a refresh, which hangs in the database
    answered, out = call_in_thread(counts, "lamp-1")
    assert answered.wait(2), "the caller waited for the tickets database"
    assert out == [{"minor": 1}]
    assert db.waiting.wait(5)
    answered, out = call_in_thread(counts, "lamp-1")  # a second caller meanwhile: no second read
    assert answered.wait(2) and out == [{"minor": 1}] and db.reads == 2
    db.release.set()
    wait_for(lambda: counts("lamp-1") == {"minor": 2}, 5, "the refreshed counts")
