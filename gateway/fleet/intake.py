"""Events from the head-office broker into the store: MQTT 5 shared subscription, manual ack after a
group commit, bounded pending work (ARCHITECTURE.md, "Manual acknowledgement, measured").

paho's network thread only appends to `pending` (and blocks there when `max_pending` messages wait,
so TCP holds the rest at the broker; Debian's mosquitto 2.0.11 does not enforce Receive Maximum once
acks flow). The commit thread takes up to `batch` messages, parses them, writes events and dead
letters in one transaction, and only then acknowledges them. A failed commit is retried with backoff
and acknowledges nothing: the broker keeps the messages until they are stored. Every replica
subscribes to `$share/<group>/sitegate/+/events/#`, so the broker hands each event to one of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gateway.core.model import Inbound
from gateway.fleet.events import SUBSCRIPTION, BadEvent, FleetEvent, parse_event
from gateway.fleet.metrics import FleetMetrics
from gateway.fleet.store import BatchResult, FleetStore, Rejected
from gateway.ingest.mqtt import MqttIngest, MqttSettings

log = logging.getLogger("sitegate.hq.intake")

BACKOFF_MAX_S = 5.0
PRUNE_EVERY_S = 3600.0


def shared_subscription(group: str) -> str:
    return f"$share/{group}/{SUBSCRIPTION}"


class Intake:
    def __init__(self, store: FleetStore, settings: MqttSettings, metrics: FleetMetrics, *,
                 max_pending: int = 5000, batch: int = 1000, linger_s: float = 0.005,
                 keep_health_s: float = 7 * 86400, now: Callable[[], float] = time.time,
                 catchup: MqttSettings | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self.max_pending = max_pending
        self.batch = batch
        self.linger_s = linger_s
        self._now = now
        self.keep_health_s = keep_health_s  # 0: keep every health event
        self._next_prune = 0.0
        self._pending: list[Inbound] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        # The catch-up client (FleetMqtt.catchup) feeds the same commit; each client acknowledges
        # only what came over its own connection (MqttIngest.ack checks the connection tag).
        self.catchup = MqttIngest(catchup, self._take, now=now) if catchup is not None else None
        self.mqtt = MqttIngest(settings, self._take, on_state=lambda up: metrics.mqtt_connected.set(int(up)),
                               now=now)

    @property
    def connected(self) -> bool:
        return self.mqtt.connected.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hq-commit", daemon=True)
        self._thread.start()
        self.mqtt.start()
        if self.catchup is not None:
            self.catchup.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(30)
        self.mqtt.stop()
        if self.catchup is not None:
            self.catchup.stop()

    # -- network thread -------------------------------------------------------------------------
    def _take(self, item: Inbound) -> None:
        with self._cond:
            while len(self._pending) >= self.max_pending and not self._stopping:
                self._cond.wait(0.5)  # backpressure: TCP holds the rest at the broker
            self._pending.append(item)
            self.metrics.pending.set(len(self._pending))
            self._cond.notify_all()

    # -- commit thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait(0.5)
                if not self._pending and self._stopping:
                    return
                if len(self._pending) < self.batch and not self._stopping:
                    self._cond.wait(self.linger_s)  # let a burst gather into one commit
                taken, self._pending = self._pending[:self.batch], self._pending[self.batch:]
                self.metrics.pending.set(len(self._pending))
                self._cond.notify_all()
            self._commit(taken)
            self._prune()

    def _prune(self) -> None:
        """Once an hour, drop health events older than the retention (in this thread: no extra writer)."""
        now = time.monotonic()
        if not self.keep_health_s or now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY_S
        try:
            gone = self.store.prune("health", self._now() - self.keep_health_s)
        except Exception as exc:  # a busy or unreachable database: try again next hour
            log.warning("cannot prune old health events: %s", exc)
            return
        if gone:
            log.info("pruned %d health events older than %.0f days", gone, self.keep_health_s / 86400)

    def _commit(self, taken: list[Inbound]) -> None:
        events: list[FleetEvent] = []
        rejected: list[Rejected] = []
        for item in taken:
            try:
                events.append(parse_event(item.topic, item.payload))
            except BadEvent as exc:
                rejected.append(Rejected(item.topic, exc.reason, str(exc), item.payload))
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                result = self.store.write_batch(events, rejected, received_at=self._now())
                break
            except Exception as exc:  # the database may be down: keep the batch, retry
                self.metrics.storage_errors.inc()
                self.last_error = f"cannot store events: {exc}"
                log.warning("%s; retrying in %.1f s (the broker keeps them unacknowledged)", self.last_error, delay)
                if self._stopping and delay >= BACKOFF_MAX_S:
                    return  # give up at shut-down: nothing was acked, so the broker delivers them again
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
        self.last_error = None
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.mqtt.ack(taken)  # only now: stored, or dead-lettered
        if self.catchup is not None:
            self.catchup.ack(taken)
        self._count(len(taken), result, rejected)

    def _count(self, received: int, result: BatchResult, rejected: list[Rejected]) -> None:
        m = self.metrics
        m.received.inc(received)
        m.stored.inc(result.stored)
        m.duplicates.inc(result.duplicates)
        for bad in rejected:
            m.rejected.labels(bad.reason).inc()
