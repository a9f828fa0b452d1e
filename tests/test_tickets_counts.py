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


def test_a_ticket_change_is_counted_at_once_however_little_time_passed() -> None:
    # Replay and the fake clock run far faster than real time: a count that waits for its ttl on the
    # real clock shows a ticket minutes of site time late, and differently from one run to the next.
    db, clock = SlowDatabase(), Clock()
    db.release.set()
    counts = OpenTicketCounts(db.open_counts, ttl=None, monotonic=clock)
    assert counts("lamp-1") == {"minor": 1}
    counts.changed()  # the service committed a ticket change
    assert counts("lamp-1") == {"minor": 2} and db.reads == 2
    clock.now = 1e9  # without a ttl nothing is re-read by time
    assert counts("lamp-1") == {"minor": 2} and db.reads == 2


class ChangingDatabase:
    """Counts `value` minor tickets; the read after `hold_next` is set waits for `release`."""

    def __init__(self) -> None:
        self.value = 1
        self.hold_next = False
        self.waiting = threading.Event()
        self.release = threading.Event()

    def open_counts(self) -> dict[str, dict[str, int]]:
        value = self.value  # what the database held when the read began
        if self.hold_next:
            self.hold_next = False
            self.waiting.set()
            self.release.wait(10)
        return {"lamp-1": {"minor": value}}


def test_a_background_read_that_began_before_a_change_does_not_overwrite_it() -> None:
    db, clock = ChangingDatabase(), Clock()
    counts = OpenTicketCounts(db.open_counts, ttl=2.0, monotonic=clock)
    db.hold_next, clock.now = True, 5.0
    counts("lamp-1")  # stale: a background read begins, and hangs in the database
    assert db.waiting.wait(5)
    db.value = 7
    counts.changed()  # a ticket changed; its own read sees the new state
    assert counts("lamp-1") == {"minor": 7}
    db.release.set()  # the slow read comes back with the state from before the change
    wait_for(lambda: not counts.refreshing, 5, "the background read to end")
    assert counts("lamp-1") == {"minor": 7}


class FailingOnce:
    """Counts `value` minor tickets; the next read after `fail` is set raises."""

    def __init__(self) -> None:
        self.value, self.reads, self.fail = 1, 0, False

    def open_counts(self) -> dict[str, dict[str, int]]:
        self.reads += 1
        if self.fail:
            self.fail = False
            raise OSError("database is locked")
        return {"lamp-1": {"minor": self.value}}


def test_the_changes_of_one_commit_cost_one_read() -> None:
    db, commits = FailingOnce(), [0]
    counts = OpenTicketCounts(db.open_counts, ttl=None, commits=lambda: commits[0])
    assert db.reads == 1  # at start-up
    commits[0], db.value = 1, 2  # one commit, three changes told one by one
    for _ in range(3):
        counts.changed()
        assert counts("lamp-1") == {"minor": 2}
    assert db.reads == 2
    commits[0], db.value = 2, 3  # the next commit is read again
    counts.changed()
    assert (db.reads, counts("lamp-1")) == (3, {"minor": 3})


def test_a_read_that_failed_does_not_count_for_its_commit() -> None:
    db, commits = FailingOnce(), [0]
    counts = OpenTicketCounts(db.open_counts, ttl=None, commits=lambda: commits[0])
    commits[0], db.value, db.fail = 1, 2, True
    counts.changed()  # fails: the counts of before are kept
    assert counts("lamp-1") == {"minor": 1}
    counts.changed()  # the same commit's next change reads it
    assert (db.reads, counts("lamp-1")) == (3, {"minor": 2})
