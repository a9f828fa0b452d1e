"""Group commit: journal a batch durably, then acknowledge it, then hand it to the consumers.

The MQTT network thread only appends to `pending` (and blocks when it is full, so TCP holds the
rest at the broker). One pipeline thread takes everything pending, decodes it, writes the journal,
dead letters and (now and then) the consumers' snapshots and the device registry in ONE SQLite
transaction, then acks each message to the broker and gives the batch to the consumers (rules,
patrol, time series, ...).

Exactly-once, in the face of kill -9:
- a message acked to the broker is in the journal (ack only after commit);
- a redelivered message (MQTT dup flag, same packet id, topic and payload as a journaled message of
  an earlier connection) is acked and skipped, so it is not counted twice;
- the registry's saved state names the journal position it reflects (it is saved with the
  snapshots); after a restart the journal after that position is folded into it again, before any
  consumer is restored, so it ends where the journal ends;
- each consumer's snapshot is stored with the journal position it reflects; after a restart it is
  restored and the journal after that position is replayed into it;
- a consumer's position moves only past a batch it took without raising. One that raises gets the
  same batch again, with backoff; meanwhile the pipeline takes no new batch, so nothing more is acked
  (intake blocks at max_pending and the broker keeps the rest, as when the disk is full), health
  names the consumer and its error, and `sitegate_consumer_errors_total{consumer}` counts each try.
  It resumes by itself once the consumer takes the batch. A consumer must take a batch whole or
  raise before changing anything (see Consumer in gateway/core/model.py), so its state always
  matches its position, and a snapshot of it is good at any time.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from gateway.core.clock import Clock, SystemClock
from gateway.core.metrics import Metrics
from gateway.core.model import Consumer, Decoded, EventSink, Inbound, Processed, RawMessage, Rejection
from gateway.ingest.deadletters import DeadLetter, DeadLetters
from gateway.ingest.journal import StateDB
from gateway.ingest.registry import DeviceLimitReached, Registry

log = logging.getLogger("sitegate.pipeline")

REDELIVERY_WINDOW = 500_000  # journal rows searched for the original of a redelivered message
# Snapshots grow with the devices (the rules keep a track per rule and device): at 100,000 devices one
# takes seconds, and every `snapshot_interval` it would take most of the pipeline thread. So the next
# one waits at least this many times as long as the last took (at most ~5% of the thread's time);
# a restart replays the journal after the last one, so nothing is lost, only the replay is longer.
SNAPSHOT_SPACING = 20
# The kv row saying which journaled message the saved device registry (table `devices`) covers.
REGISTRY_KEY = "registry"


class Decoder(Protocol):
    def decode(self, msg: RawMessage) -> Decoded: ...


def digest(topic: str, payload: bytes) -> int:
    h = hashlib.blake2b(topic.encode(), digest_size=8)
    h.update(b"\0")
    h.update(payload)
    return int.from_bytes(h.digest(), "big", signed=True)


class Pipeline:
    def __init__(self, db: StateDB, decoder: Decoder, registry: Registry, *, metrics: Metrics,
                 deadletters: DeadLetters, ack: Callable[[Sequence[Inbound]], None] = lambda _b: None,
                 events: EventSink | None = None, wants: Callable[[str], bool] = lambda _kind: True,
                 max_pending: int = 20_000, batch_max: int = 1000,
                 tick_interval: float = 1.0, snapshot_interval: float = 2.0,
                 journal_keep: int = 1_000_000, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.decoder = decoder
        self.registry = registry
        self.metrics = metrics
        self.deadletters = deadletters
        self.ack = ack
        self.events = events
        self.wants = wants  # whether anybody takes events of a kind (the per-message "reading" ones)
        self.consumers: list[Consumer] = []
        self._stages: list[tuple[int, Consumer]] = []
        self.max_pending = max_pending
        self.batch_max = batch_max
        self.tick_interval = tick_interval
        self.snapshot_interval = snapshot_interval
        self.journal_keep = journal_keep
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._has_room = threading.Condition(self._lock)
        self._pending: list[Inbound] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        row = db.writer.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
        self._next_seq = int(row[0]) + 1
        self._consumer_seq: dict[str, int] = {}
        self._registry_seq = self._catch_up_registry()
        self._last_snapshot = 0.0
        self._snapshot_cost = 0.0  # seconds the last snapshot took
        self._last_tick = 0.0
        self.storage_error: str | None = None
        # Consumers whose last batch or tick raised, with the error, until one works again.
        self.consumer_errors: dict[str, str] = {}
        self.retry_max = 5.0  # seconds between tries of a failing consumer, at most
        self._stop_requested = threading.Event()
        self._stalled: set[str] = set()  # still failing a batch when stop came: they get nothing more
        self.processed = 0  # messages journaled since start (for tests and benchmarks)
        self._idle = threading.Condition(self._lock)

    # -- set-up ---------------------------------------------------------------------------------
    def add_consumer(self, consumer: Consumer, stage: int = 50) -> None:
        """Restore the consumer's snapshot and replay the journal after it (call before start).

        Each batch goes to the consumers in `stage` order (see gateway/core/model.py's stages):
        those that detect come before those that act on what was detected and those that record."""
        raw = self.db.get_kv(f"consumer:{consumer.name}")
        last = self._next_seq - 1
        if raw is not None:
            saved = orjson.loads(raw)
            consumer.restore(saved["state"])
            replayed = self._replay(consumer, int(saved["seq"]))
            if replayed:
                log.info("replayed %d journaled messages into %s after restart", replayed, consumer.name)
        self._consumer_seq[consumer.name] = last
        self.metrics.consumer_errors.labels(consumer.name)  # the series exists (at 0) from the start
        self._stages.append((stage, consumer))
        self._stages.sort(key=lambda pair: pair[0])  # stable: equal stages keep the order they came in
        self.consumers[:] = [c for _, c in self._stages]

    def _catch_up_registry(self) -> int:
        """Fold the messages journaled after the registry's last saved state into it (the registry is
        saved with the consumers' snapshots, not in every batch: a JSON row per device per batch was
        ~3 us of the ~95 us a message costs). Answers the seq its saved state now covers."""
        raw = self.db.get_kv(REGISTRY_KEY)
        if raw is None:  # saved by a version that wrote it in every batch: up to date
            return self._next_seq - 1
        after = int(orjson.loads(raw)["seq"])
        count = 0
        for batch in self._journaled_after(after):
            for p in batch:
                decoded = p.decoded
                if decoded.device is None or decoded.rejected:
                    continue
                try:
                    self.registry.apply(decoded, p.msg.received_at)  # its events were published the first time
                except DeviceLimitReached:
                    continue  # rejected the first time too, for the same reason
                count += 1
        if count:
            log.info("replayed %d journaled messages into the device registry after restart", count)
        return after

    def _replay(self, consumer: Consumer, after: int) -> int:
        count = 0
        for batch in self._journaled_after(after):
            consumer.handle(batch)
            count += len(batch)
        return count

    def _journaled_after(self, after: int) -> Iterator[list[Processed]]:
        """The journal after seq `after`, decoded again, in batches of at most batch_max."""
        cursor = self.db.writer.execute(
            "SELECT seq, topic, payload, received_at FROM journal WHERE seq > ? ORDER BY seq", (after,))
        while rows := cursor.fetchmany(self.batch_max):
            batch = []
            for seq, topic, payload, received_at in rows:
                msg = RawMessage(topic, bytes(payload), datetime.fromtimestamp(received_at, UTC))
                batch.append(Processed(seq, msg, self.decoder.decode(msg)))
            yield batch

    # -- network thread side --------------------------------------------------------------------
    def submit(self, item: Inbound) -> None:
        """Hand a message over; blocks while too much is pending (backpressure, bounded memory)."""
        with self._lock:
            while len(self._pending) >= self.max_pending and not self._stopping:
                self._has_room.wait(0.5)
            self._pending.append(item)
            if len(self._pending) == 1:
                self._has_work.notify()

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- pipeline thread ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sitegate-pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain what is pending, snapshot consumers, and stop."""
        with self._lock:
            self._stopping = True
            self._has_work.notify_all()
            self._has_room.notify_all()
        self._stop_requested.set()
        if self._thread:
            self._thread.join(timeout)  # the thread drains and takes the final snapshot
            self._thread = None
        else:  # driven by hand (replay, tests): snapshot here
            self._commit([], [], snapshot=True)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is pending (tests and replay)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending and not self._stopping:
                    self._has_work.wait(self.tick_interval)
                # The timers' time is read before the batch is taken, and held below what is still
                # pending: a message that arrived before it is handled before the timers run up to it,
                # never after (replay's order; otherwise a deadline between its arrival and the end of
                # this batch would be judged without it).
                tick_at = self.clock.now()
                batch = self._pending[: self.batch_max]
                del self._pending[: self.batch_max]
                if self._pending:
                    tick_at = min(tick_at, datetime.fromtimestamp(self._pending[0].received_at, UTC))
                self._has_room.notify_all()
                stopping = self._stopping and not self._pending
            self.metrics.pending.set(len(self._pending))
            if batch:
                self.process(batch)
            now = time.monotonic()
            if now - self._last_tick >= self.tick_interval:
                self._last_tick = now
                self.tick(tick_at)
            if not batch:
                with self._lock:
                    self._idle.notify_all()
            if stopping and not batch:
                self._commit([], [], snapshot=True)
                return

    def tick(self, at: datetime | None = None) -> None:
        """Run the timers: silence sweep and every consumer's tick, at `at` (default: the clock's now)."""
        now = self.clock.now() if at is None else at
        for event in self.registry.sweep(now):
            self._emit("device", event)
        for consumer in self.consumers:
            name = consumer.name
            if name in self._stalled:
                continue
            try:
                consumer.tick(now)
            except Exception as exc:  # a timer that fails does not hold intake; the next tick retries
                self._failed(name, exc, "in tick")
                continue
            if self.consumer_errors.pop(name, None) is not None:
                log.warning("consumer %s works again", name)

    def process(self, batch: Sequence[Inbound]) -> list[Processed]:
        """Journal, ack and hand on one batch (runs on the pipeline thread).

        The batch is cut after each message that carries a tap: a guard waits at the checkpoint for
        the reader's ack, which goes out when the tap's part is journaled and judged, not after the
        readings that arrived behind it (bench/README.md, "Latency")."""
        done: list[Processed] = []
        start = 0
        while start < len(batch):
            start = self._process_part(batch, start, done)
        return done

    def _process_part(self, batch: Sequence[Inbound], start: int, out: list[Processed]) -> int:
        """Journal, ack and hand on `batch[start:]` up to its first tap; answers where it stopped."""
        started = time.perf_counter()
        redelivered = 0
        rows: list[tuple[Any, ...]] = []
        done: list[Processed] = []
        letters: list[DeadLetter] = []
        device_events: list[dict[str, Any]] = []
        decoded_count = 0
        end = start
        tap = False
        for item in batch[start:]:
            end += 1
            if self._redelivered(item):  # looked up as the part goes: its original may be in an earlier part
                redelivered += 1
                continue
            received = datetime.fromtimestamp(item.received_at, UTC)
            msg = RawMessage(item.topic, item.payload, received)
            decoded = self.decoder.decode(msg)
            if decoded.device is not None and not decoded.rejected:
                try:
                    device_events.extend(self.registry.apply(decoded, received))
                except DeviceLimitReached as exc:
                    decoded = Decoded(profile=decoded.profile, device=decoded.device,
                                      rejections=[Rejection("device_limit", str(exc))])
            for rej in decoded.rejections:
                letters.append(DeadLetter(item.topic, received, rej.reason, rej.detail, item.payload))
            decoded_count += len(decoded.readings)
            seq = self._next_seq
            self._next_seq += 1
            rows.append((seq, item.conn, item.mid, digest(item.topic, item.payload), item.topic,
                         item.payload, item.received_at))
            done.append(Processed(seq, msg, decoded))
            if decoded.taps:
                tap = True
                break
        part = batch[start:end]
        since = time.monotonic() - self._last_snapshot
        # Not in a tap's part: a snapshot takes milliseconds (the time-series consumer's waits for
        # the store), and the next part takes it as well.
        snapshot = (since >= self.snapshot_interval and since >= SNAPSHOT_SPACING * self._snapshot_cost
                    and not tap)
        self._commit(rows, letters, snapshot=snapshot)
        self.ack(part)
        self.processed += len(rows)
        m = self.metrics
        m.received.inc(len(part))
        m.decoded.inc(decoded_count)
        if redelivered:
            m.duplicates.inc(redelivered)
        for letter in _first_reason_per_message(done):
            m.rejected.labels(letter).inc()
        for p in done:
            if p.decoded.ignored:
                m.ignored.labels(p.decoded.profile or "").inc()
        self._deliver_in_time(done)
        for event in device_events:
            self._emit("device", event)
        if self.events is not None and self.wants("reading"):
            for p in done:
                if p.decoded.readings:
                    self._emit("reading", {"device": p.decoded.device, "ts": p.msg.received_at.isoformat(),
                                           "metrics": {r.metric: r.value for r in p.decoded.readings}})
        m.devices.set(len(self.registry))
        m.batch_seconds.observe(time.perf_counter() - started)
        out.extend(done)
        return end

    def _deliver_in_time(self, done: Sequence[Processed]) -> None:
        """Hand `done` to the consumers in runs cut at the consumers' deadlines: the timers due before
        a message run before it, each at its own time, however the messages were batched. So a live
        gateway judges the same as a replay of its traffic (gateway/app/replay.py) at any clock speed,
        not only when a tick happens to fall between a deadline and the next message."""
        i = 0
        while i < len(done):
            self._run_timers(done[i].msg.received_at)
            due = self._deadline()
            j = i + 1  # at least one message per step: a deadline that does not move cannot hold it up
            while j < len(done) and (due is None or done[j].msg.received_at < due):
                j += 1
            run = done[i:j]
            for consumer in self.consumers:
                self._deliver(consumer, run)
            i = j

    def _deadline(self) -> datetime | None:
        """The earliest instant a consumer asked to be ticked at (consumers with a `next_deadline()`;
        see Consumer in gateway/core/model.py)."""
        found = [d for c in self.consumers if c.name not in self._stalled
                 and (ask := getattr(c, "next_deadline", None)) is not None and (d := ask()) is not None]
        return min(found, default=None)

    def _run_timers(self, until: datetime) -> None:
        """Tick at every consumer deadline up to `until`, in order, each at its own time."""
        last: datetime | None = None
        for _ in range(10_000):  # a bound, not a budget: deadlines move on when ticked
            due = self._deadline()
            if due is None or due > until or (last is not None and due <= last):
                return  # nothing due, or a deadline its tick did not move (it runs again next time)
            self.tick(due)
            last = due

    def _deliver(self, consumer: Consumer, batch: Sequence[Processed]) -> None:
        """Hand `batch` to `consumer` until it takes it; only then does its position move past it.

        While it raises, this (pipeline) thread retries with backoff and takes no new batch. At stop a
        consumer still failing gets nothing more; its snapshot keeps its position, so after the
        restart the journal from there is replayed into it. Driven by hand (replay, tests), there is
        nobody to wait for: the error goes to the caller.
        """
        name = consumer.name
        if name in self._stalled:
            return
        delay = 0.1
        while True:
            try:
                consumer.handle(batch)
            except Exception as exc:
                self._failed(name, exc, f"on a batch of {len(batch)}; holding intake (nothing more is acked) "
                                        "and retrying it")
                if self._thread is None:
                    raise
                if self._stop_requested.wait(delay):
                    self._stalled.add(name)
                    return
                delay = min(delay * 2, self.retry_max)
                continue
            if self.consumer_errors.pop(name, None) is not None:
                log.warning("consumer %s took its batch; intake resumes", name)
            self._consumer_seq[name] = self._next_seq - 1
            return

    def _failed(self, name: str, exc: Exception, what: str) -> None:
        """Count a consumer's failure, say why in health, and log the first of a run in full."""
        self.metrics.consumer_errors.labels(name).inc()
        if name not in self.consumer_errors:
            log.exception("consumer %s failed %s", name, what)
        self.consumer_errors[name] = f"{type(exc).__name__}: {exc}"

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.events is not None:
            self.events(kind, data)

    def _redelivered(self, item: Inbound) -> bool:
        """The broker sent it again (dup flag) and its original is already journaled."""
        if not item.dup or item.qos == 0:
            return False
        row = self.db.writer.execute(
            "SELECT 1 FROM journal WHERE mid = ? AND digest = ? AND conn != ? AND seq > ? LIMIT 1",
            (item.mid, digest(item.topic, item.payload), item.conn, self._next_seq - REDELIVERY_WINDOW)).fetchone()
        return row is not None

    def _commit(self, rows: list[tuple[Any, ...]], letters: list[DeadLetter], *, snapshot: bool) -> None:
        """One transaction; on failure (disk full, read-only) retry until it works: nothing is acked
        meanwhile, intake blocks at max_pending, and the broker keeps the rest."""
        delay = 0.1
        devices: list[tuple[str, str]] = []
        snaps: list[tuple[str, str]] = []
        if snapshot:
            # The registry as of this batch's last message; a restart replays the journal after it.
            devices = self.registry.dirty_rows()
            self._registry_seq = self._next_seq - 1
            snaps.append((REGISTRY_KEY, orjson.dumps({"seq": self._registry_seq}).decode()))
            started = self._last_snapshot = time.monotonic()
            for consumer in self.consumers:
                try:
                    state = consumer.snapshot()
                except Exception:
                    log.exception("consumer %s failed to snapshot", consumer.name)
                    continue
                snaps.append((f"consumer:{consumer.name}", orjson.dumps(
                    {"seq": self._consumer_seq[consumer.name], "state": state}).decode()))
            self._snapshot_cost = time.monotonic() - started
        while True:
            db = self.db.writer
            try:
                db.execute("BEGIN")
                if rows:
                    db.executemany("INSERT OR IGNORE INTO journal(seq, conn, mid, digest, topic, payload, "
                                   "received_at) VALUES(?,?,?,?,?,?,?)", rows)
                self.deadletters.add(db, letters)
                if devices:
                    db.executemany("INSERT INTO devices(id, state) VALUES(?, ?) "
                                   "ON CONFLICT(id) DO UPDATE SET state=excluded.state", devices)
                if snaps:
                    db.executemany("INSERT INTO kv(key, value) VALUES(?, ?) "
                                   "ON CONFLICT(key) DO UPDATE SET value=excluded.value", snaps)
                if rows and rows[0][0] % 50_000 < len(rows):  # now and then, keep the journal bounded
                    self._prune(db)
                db.execute("COMMIT")
                if self.storage_error:
                    log.warning("state database writable again after: %s", self.storage_error)
                self.storage_error = None
                return
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if self.storage_error is None:
                    log.error("cannot write the state database %s: %s; holding messages (not acked) "
                              "and retrying", self.db.path, exc)
                self.storage_error = str(exc)
                self.metrics.storage_errors.inc()
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _prune(self, db: sqlite3.Connection) -> None:
        # Keep what consumers have not snapshotted past, and at least journal_keep rows.
        floor = min([self._next_seq - self.journal_keep, self._registry_seq, *self._consumer_seq.values()])
        db.execute("DELETE FROM journal WHERE seq <= ?", (floor,))


def _first_reason_per_message(done: Sequence[Processed]) -> list[str]:
    return [p.decoded.rejections[0].reason for p in done if p.decoded.rejections]
