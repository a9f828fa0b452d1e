"""Group commit, ack-after-commit, redelivery dedup, consumer snapshots and replay."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.core.clock import FakeClock
from gateway.core.metrics import Metrics
from gateway.core.model import (
    STAGE_ANSWER,
    STAGE_DETECT,
    Decoded,
    Inbound,
    Processed,
    RawMessage,
    Reading,
    Rejection,
    Tap,
)
from gateway.ingest.deadletters import DeadLetters
from gateway.ingest.journal import StateDB
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from tests.support.gateway_proc import wait_for


class TinyDecoder:
    """`dev/<id>` with a float payload -> one `value` reading; `chatter/...` is ignored on purpose;
    anything else is rejected."""

    def decode(self, msg: RawMessage) -> Decoded:
        parts = msg.topic.split("/")
        if parts[0] == "tap":
            return Decoded(profile="tiny", device=parts[1],
                           taps=[Tap(parts[1], msg.payload.decode(), msg.received_at, msg.received_at)])
        if parts[0] == "chatter":
            return Decoded(profile="tiny", ignored=True)
        if len(parts) != 2 or parts[0] != "dev":
            return Decoded(rejections=[Rejection("unknown_topic", msg.topic)])
        try:
            value = float(msg.payload)
        except ValueError:
            return Decoded(device=parts[1], rejections=[Rejection("wrong_type", "not a number")])
        return Decoded(profile="tiny", device=parts[1],
                       readings=[Reading(parts[1], "value", value, None, msg.received_at)])


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.restored: Any = None

    def handle(self, batch: Sequence[Processed]) -> None:
        self.seen.extend(p.seq for p in batch)

    def tick(self, now: datetime) -> None:
        pass

    def snapshot(self) -> Any:
        return {"count": len(self.seen)}

    def restore(self, state: Any) -> None:
        self.restored = state


def make(tmp: Path, acked: list[int] | None = None) -> Pipeline:
    sink: list[int] = [] if acked is None else acked
    db = StateDB(tmp / "state.db")
    registry = Registry({}, heartbeat={})
    registry.load(db.writer)
    return Pipeline(db, TinyDecoder(), registry, metrics=Metrics(), deadletters=DeadLetters(max_rows=100),
                    ack=lambda batch: sink.extend(i.mid for i in batch), snapshot_interval=0)


def msg(n: int, *, dev: str = "a", dup: bool = False, conn: int = 1, payload: bytes | None = None) -> Inbound:
    return Inbound(f"dev/{dev}", payload if payload is not None else str(n).encode(), 1_700_000_000 + n,
                   mid=n, qos=1, dup=dup, conn=conn)


def test_batch_is_journaled_before_it_is_acked(tmp_path: Path) -> None:
    acked: list[int] = []
    p = make(tmp_path, acked)
    seen_in_journal: list[int] = []

    def ack(batch: Sequence[Inbound]) -> None:
        # At ack time the rows must already be committed (visible to another connection).
        seen_in_journal.append(p.db.reader().execute("SELECT COUNT(*) FROM journal").fetchone()[0])
        acked.extend(i.mid for i in batch)

    p.ack = ack
    p.process([msg(1), msg(2), msg(3)])
    assert seen_in_journal == [3]
    assert acked == [1, 2, 3]


def test_redelivered_message_is_acked_but_not_counted_twice(tmp_path: Path) -> None:
    acked: list[int] = []
    p = make(tmp_path, acked)
    p.process([msg(1, conn=1), msg(2, conn=1)])
    # After a reconnect the broker resends message 2 with the dup flag: same id, topic, payload.
    out = p.process([msg(2, dup=True, conn=2), msg(3, conn=2)])
    assert [x.msg.payload for x in out] == [b"3"]
    assert acked == [1, 2, 2, 3]
    view = p.registry.view("a", datetime.now(UTC))
    assert view is not None and view["messages"] == 3


def test_dup_flag_without_a_journaled_original_is_processed(tmp_path: Path) -> None:
    p = make(tmp_path)
    out = p.process([msg(7, dup=True, conn=2)])
    assert len(out) == 1


def test_bad_messages_are_dead_lettered_with_reason_and_still_acked(tmp_path: Path) -> None:
    acked: list[int] = []
    p = make(tmp_path, acked)
    p.process([Inbound("junk/topic", b"\xff\x00", 1_700_000_000.0, mid=5, qos=1, conn=1),
               msg(6, payload=b"abc")])
    assert acked == [5, 6]
    letters = p.deadletters.list(p.db.reader())
    assert [(d["topic"], d["reason"]) for d in letters] == [("dev/a", "wrong_type"), ("junk/topic", "unknown_topic")]
    text = p.metrics.render().decode()
    assert 'sitegate_messages_rejected_total{reason="unknown_topic"} 1.0' in text


def test_known_chatter_is_ignored_on_purpose_and_counted_by_profile_not_lost_silently(tmp_path: Path) -> None:
    p = make(tmp_path)
    p.process([Inbound("chatter/bridge/logging", b"{}", 1_700_000_000.0, mid=1, qos=1, conn=1),
               Inbound("chatter/lamp/set", b"{}", 1_700_000_001.0, mid=2, qos=1, conn=1)])
    assert p.deadletters.list(p.db.reader()) == [] and len(p.registry) == 0
    assert 'sitegate_messages_ignored_total{profile="tiny"} 2.0' in p.metrics.render().decode()


def test_registry_and_journal_survive_restart_together(tmp_path: Path) -> None:
    p = make(tmp_path)
    p.process([msg(i, dev=f"d{i % 3}") for i in range(30)])
    p.db.close()
    q = make(tmp_path)
    counts = {v["id"]: v["messages"] for v in q.registry.views(datetime.now(UTC))}
    assert counts == {"d0": 10, "d1": 10, "d2": 10}
    assert q._next_seq == 31


def test_the_registry_after_a_crash_is_its_saved_state_and_the_journal_after_it(tmp_path: Path) -> None:
    p = make(tmp_path)
    p.snapshot_interval = 3600.0  # after the first batch's snapshot, none covers what follows
    p.process([msg(i, dev=f"d{i % 3}") for i in range(1, 7)])
    p.process([msg(i, dev=f"d{i % 4}") for i in range(7, 15)] + [Inbound("dev/d9", b"x", 1_700_000_015)])
    saved = dict(p.db.writer.execute("SELECT id, json_extract(state, '$.messages') FROM devices"))
    assert saved == {"d0": 2, "d1": 2, "d2": 2}  # as of the first snapshot (seq 1..6)
    p.db.close()  # a crash: no snapshot at stop
    q = make(tmp_path)
    counts = {v["id"]: v["messages"] for v in q.registry.views(datetime.now(UTC))}
    # Counted by hand: 1..6 by i % 3, 7..14 by i % 4; d9's message was rejected (not a number), and
    # is not in the registry, as the first time.
    assert counts == {"d0": 2 + 2, "d1": 2 + 2, "d2": 2 + 2, "d3": 2}
    last = {v["id"]: v["last_seen"] for v in q.registry.views(datetime.now(UTC))}
    assert last["d3"] == datetime.fromtimestamp(1_700_000_011, UTC).isoformat()
    q.process([msg(20, dev="d0")])  # it snapshots (interval 0): the catch-up is saved, not lost again
    q.db.close()
    r = make(tmp_path)
    assert {v["id"]: v["messages"] for v in r.registry.views(datetime.now(UTC))}["d0"] == 5


def test_reading_events_are_built_only_while_somebody_wants_them(tmp_path: Path) -> None:
    p = make(tmp_path)
    got: list[tuple[str, dict[str, Any]]] = []
    wanted = {"reading": False}
    p.events = lambda kind, data: got.append((kind, data))
    p.wants = lambda kind: wanted.get(kind, True)
    p.process([msg(1)])
    assert got and {k for k, _ in got} == {"device"}  # discovered, online; no reading event for nobody
    wanted["reading"] = True  # a dashboard opened
    got.clear()
    p.process([msg(2, dev="b")])
    assert [d for k, d in got if k == "reading"] == [
        {"device": "b", "ts": datetime.fromtimestamp(1_700_000_002, UTC).isoformat(), "metrics": {"value": 2.0}}]


def test_consumer_restart_restores_snapshot_and_replays_the_rest(tmp_path: Path) -> None:
    p = make(tmp_path)
    first = Recorder()
    p.add_consumer(first)
    p.process([msg(i) for i in range(1, 6)])  # snapshot taken at the start of each commit
    p.process([msg(i) for i in range(6, 9)])  # this commit stores the snapshot covering seq 1..5
    p.db.close()  # "crash": seq 6..8 were handled but no snapshot covers them
    q = make(tmp_path)
    second = Recorder()
    q.add_consumer(second)
    assert second.restored == {"count": 5}
    assert second.seen == [6, 7, 8]


def test_submit_blocks_when_pending_is_full_and_resumes_after_drain(tmp_path: Path) -> None:
    p = make(tmp_path)
    p.max_pending = 3
    for i in range(3):
        p.submit(msg(i))
    done = threading.Event()

    def producer() -> None:
        p.submit(msg(99))
        done.set()

    t = threading.Thread(target=producer)
    t.start()
    assert not done.wait(0.3)  # blocked: memory stays bounded
    p.start()
    assert done.wait(5)
    assert p.wait_idle(5)
    p.stop()
    t.join()
    assert p.processed == 4


def test_storage_failure_holds_the_batch_until_the_database_is_writable(tmp_path: Path) -> None:
    acked: list[int] = []
    p = make(tmp_path, acked)
    real = p.db.writer
    calls = {"n": 0}

    class Failing:
        """Fails the first two transactions like a full disk would."""

        in_transaction = False

        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "BEGIN" and calls["n"] < 2:
                calls["n"] += 1
                import sqlite3
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

        def executemany(self, sql: str, rows: Any) -> Any:
            return real.executemany(sql, rows)

    p.db.writer = Failing()  # type: ignore[assignment]
    p.process([msg(1)])
    assert calls["n"] == 2
    assert acked == [1]
    assert p.storage_error is None
    assert p.metrics.storage_errors._value.get() == 2


def test_a_slow_open_ticket_count_on_the_http_side_does_not_hold_up_a_batch(tmp_path: Path) -> None:
    """/api/devices reads views whose health asks the tickets database for open counts; a slow or
    locked tickets database must not stall the pipeline applying a batch to the same registry."""
    p = make(tmp_path)
    p.process([msg(1)])
    asked, release = threading.Event(), threading.Event()

    def slow_counts(device: str) -> dict[str, int]:
        asked.set()
        release.wait(10)
        return {}

    p.registry.open_tickets = slow_counts
    reader = threading.Thread(target=p.registry.views, args=(datetime(2026, 11, 23, 13, 0, tzinfo=UTC),))
    batch_done = threading.Event()
    worker = threading.Thread(target=lambda: (p.process([msg(2)]), batch_done.set()))
    reader.start()
    try:
        assert asked.wait(5)
        worker.start()
        assert batch_done.wait(5), "the batch waited for the tickets database"
    finally:
        release.set()
        reader.join(10)
        worker.join(10)
    assert p.processed == 2


class Flaky(Recorder):
    """Raises on its first `failures` batches, before taking anything from them (as a consumer whose
    store is down does); `healthy` can also hold it failing until the test says so."""

    name = "flaky"

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.failures = failures
        self.healthy = threading.Event()
        self.healthy.set()
        self.raised = 0

    def handle(self, batch: Sequence[Processed]) -> None:
        if self.raised < self.failures or not self.healthy.is_set():
            self.raised += 1
            raise OSError("tickets database is locked")
        super().handle(batch)


def consumer_errors(p: Pipeline, name: str) -> float:
    return p.metrics.consumer_errors.labels(name)._value.get()  # type: ignore[no-any-return]


def test_a_consumer_that_raises_gets_the_batch_again_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    acked: list[int] = []
    p = make(tmp_path, acked)
    flaky, after = Flaky(failures=3), Recorder()
    p.add_consumer(flaky, stage=10)
    p.add_consumer(after, stage=20)
    p.start()
    try:
        for i in range(1, 6):
            p.submit(msg(i))
        wait_for(lambda: len(after.seen) == 5 and len(acked) == 5, 10, "all five messages handled")
    finally:
        p.stop()
    assert flaky.seen == [1, 2, 3, 4, 5] and after.seen == [1, 2, 3, 4, 5]
    assert consumer_errors(p, "flaky") == 3
    assert p.consumer_errors == {}


def test_while_a_consumer_keeps_failing_nothing_new_is_acked_and_health_says_why(tmp_path: Path) -> None:
    acked: list[int] = []
    p = make(tmp_path, acked)
    flaky = Flaky()
    flaky.healthy.clear()
    p.add_consumer(flaky)
    p.start()
    try:
        p.submit(msg(1))  # journaled and acked, then the consumer fails on it
        wait_for(lambda: consumer_errors(p, "flaky") >= 1, 5, "the first failure")
        p.submit(msg(2))
        # Three more retries (backoff 0.1 s, 0.2 s, 0.4 s): time enough to take message 2, were it taken.
        wait_for(lambda: consumer_errors(p, "flaky") >= 4, 10, "the retries")
        assert acked == [1] and p.pending == 1
        assert p.consumer_errors == {"flaky": "OSError: tickets database is locked"}
        flaky.healthy.set()
        wait_for(lambda: acked == [1, 2], 10, "intake to resume")
        wait_for(lambda: flaky.seen == [1, 2], 5, "the consumer to catch up")
        assert p.consumer_errors == {}
    finally:
        p.stop()


def test_a_consumer_still_failing_at_stop_gets_its_batches_replayed_after_the_restart(tmp_path: Path) -> None:
    p = make(tmp_path)
    flaky, before = Flaky(), Recorder()
    p.add_consumer(before, stage=10)
    p.add_consumer(flaky, stage=20)
    p.start()
    p.submit(msg(1))
    wait_for(lambda: flaky.seen == [1], 5, "a healthy first batch")
    flaky.healthy.clear()
    p.submit(msg(2))
    wait_for(lambda: consumer_errors(p, "flaky") >= 1, 5, "the failure")
    p.stop()  # flaky's snapshot still covers message 1 only; the other one took both
    p.db.close()
    q = make(tmp_path)
    again, before_again = Flaky(), Recorder()
    q.add_consumer(before_again, stage=10)
    q.add_consumer(again, stage=20)
    assert (before_again.restored, before_again.seen) == ({"count": 2}, [])
    assert (again.restored, again.seen) == ({"count": 1}, [2])


def test_a_tick_never_runs_past_a_message_that_arrived_before_it_and_is_still_to_be_handled(tmp_path: Path) -> None:
    # Replay runs the timers due before a message before it; live must not run a timer past a message
    # that arrived earlier and waits in `pending` (it would judge that message after a timer it preceded).
    clock = FakeClock(datetime.fromtimestamp(1_700_000_000, UTC))
    p = make(tmp_path)
    p.clock, p.tick_interval = clock, 0.0
    log: list[tuple[str, float]] = []

    class Slow(Recorder):
        def handle(self, batch: Sequence[Processed]) -> None:
            log.extend(("handle", x.msg.received_at.timestamp()) for x in batch)
            if len(log) == 1:
                # While the first batch is handled, the clock moves on 10 s and a message arrives at +1 s.
                clock.advance(timedelta(seconds=10))
                p.submit(Inbound("dev/a", b"2", 1_700_000_001.0))

        def tick(self, now: datetime) -> None:
            log.append(("tick", now.timestamp()))

    p.add_consumer(Slow())
    p.submit(Inbound("dev/a", b"1", 1_700_000_000.0))
    p.start()
    try:
        wait_for(lambda: ("handle", 1_700_000_001.0) in log and log[-1][0] == "tick", 10, "both messages")
    finally:
        p.stop()
    assert [t for kind, t in log if kind == "handle"] == [1_700_000_000.0, 1_700_000_001.0]
    second = log.index(("handle", 1_700_000_001.0))
    assert all(t <= 1_700_000_001.0 for kind, t in log[:second] if kind == "tick"), log


def test_a_consumers_deadline_inside_a_batch_runs_between_the_messages_it_falls_between(tmp_path: Path) -> None:
    # Live batches are whatever arrived together; a timer (a patrol window closing) due between two
    # messages of one batch must still run after the first and before the second, at its own time,
    # as replay runs it, or the second is judged without it (a tap counted before its window's miss).
    p = make(tmp_path)
    log: list[tuple[str, float]] = []
    deadlines = [datetime.fromtimestamp(1_700_000_005, UTC), datetime.fromtimestamp(1_700_000_006, UTC)]

    class Timed(Recorder):
        def handle(self, batch: Sequence[Processed]) -> None:
            log.extend(("handle", x.msg.received_at.timestamp()) for x in batch)

        def tick(self, now: datetime) -> None:
            log.append(("tick", now.timestamp()))
            while deadlines and deadlines[0] <= now:
                deadlines.pop(0)

        def next_deadline(self) -> datetime | None:
            return deadlines[0] if deadlines else None

    p.add_consumer(Timed())
    p.process([msg(1), msg(5), msg(9)])
    assert log == [("handle", 1_700_000_001.0), ("tick", 1_700_000_005.0), ("handle", 1_700_000_005.0),
                   ("tick", 1_700_000_006.0), ("handle", 1_700_000_009.0)]


def test_a_deadline_that_does_not_move_when_ticked_cannot_hold_a_batch_up(tmp_path: Path) -> None:
    p = make(tmp_path)
    seen: list[int] = []

    class Stuck(Recorder):
        def handle(self, batch: Sequence[Processed]) -> None:
            seen.extend(int(x.msg.payload) for x in batch)

        def next_deadline(self) -> datetime | None:
            return datetime.fromtimestamp(1_700_000_002, UTC)  # whatever its ticks do

    p.add_consumer(Stuck())
    p.process([msg(1), msg(2), msg(3)])
    assert seen == [1, 2, 3]


def test_a_tap_is_journaled_acked_and_answered_before_the_messages_behind_it_in_its_batch(tmp_path: Path) -> None:
    # A guard waits at the checkpoint for the reader's ack: the batch is cut after the tap, its part
    # is committed and acked on its own, and the answering consumer (patrol) sees it before the
    # detectors see the readings ahead of it. Nothing is reordered: every consumer sees 1..5 in order.
    p = make(tmp_path)
    log: list[tuple[str, list[int]]] = []
    snapshots: list[int] = []

    def ack(batch: Sequence[Inbound]) -> None:
        log.append(("ack", [i.mid for i in batch]))

    class Seen(Recorder):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def handle(self, batch: Sequence[Processed]) -> None:
            super().handle(batch)
            log.append((self.name, [x.msg.received_at.second for x in batch]))

        def snapshot(self) -> Any:
            snapshots.append(len(self.seen))
            return super().snapshot()

    p.ack = ack
    rules, patrol = Seen("rules"), Seen("patrol")
    p.add_consumer(rules, STAGE_DETECT)
    p.add_consumer(patrol, STAGE_ANSWER)
    tap = Inbound("tap/cp-1", b"G0017", 1_700_000_003, mid=3, qos=1, dup=False, conn=1)
    start = datetime.fromtimestamp(1_700_000_000, UTC).second
    p.process([msg(1), msg(2), tap, msg(4), msg(5)])
    assert log == [("ack", [1, 2, 3]), ("patrol", [start + 1, start + 2, start + 3]),
                   ("rules", [start + 1, start + 2, start + 3]),
                   ("ack", [4, 5]), ("patrol", [start + 4, start + 5]), ("rules", [start + 4, start + 5])]
    seqs = [row[0] for row in p.db.reader().execute("SELECT seq FROM journal ORDER BY seq")]
    assert rules.seen == patrol.seen == seqs and len(seqs) == 5
    # snapshot_interval=0 asks for one at every commit, but not in the tap's part: the tap's ack does
    # not wait for it. It is taken in the next part, before that part is handed on.
    assert snapshots == [3, 3]


def test_a_redelivery_whose_original_is_in_an_earlier_part_of_its_batch_is_skipped_and_counted_once(
        tmp_path: Path) -> None:
    # After a reconnect, pending can hold message 2 from the old connection and, behind a tap, the
    # broker's resend of it: the tap cuts the batch, the original is journaled with the first part,
    # so the resend is recognised in the second (and counted once, not once per part).
    acked: list[int] = []
    p = make(tmp_path, acked)
    tap = Inbound("tap/cp-1", b"G0017", 1_700_000_003, mid=9, qos=1, dup=False, conn=1)
    out = p.process([msg(1, conn=1), msg(2, conn=1), tap, msg(2, dup=True, conn=2), msg(4, conn=2)])
    assert [x.msg.payload for x in out] == [b"1", b"2", b"G0017", b"4"]
    assert acked == [1, 2, 9, 2, 4]
    assert p.metrics.duplicates._value.get() == 1
    # A resend behind a tap whose original came in an earlier batch: still one.
    tap2 = Inbound("tap/cp-2", b"G0017", 1_700_000_006, mid=10, qos=1, dup=False, conn=2)
    out = p.process([tap2, msg(4, dup=True, conn=3), msg(7, conn=3)])
    assert [x.msg.payload for x in out] == [b"G0017", b"7"]
    assert p.metrics.duplicates._value.get() == 2
