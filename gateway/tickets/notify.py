"""Tell the world about every ticket change: MQTT (`sitegate/<site>/tickets/<id>`), the live event
sink, and webhooks.

MQTT and the event sink are called inline (a Publisher never blocks). Webhooks are slow and
unreliable, so they go through a bounded queue to one background thread that POSTs with retries,
exponential backoff and an `Idempotency-Key` header (`<site>:<ticket id>:<revision>`): a receiver
that saw a delivery before can drop the retry. One thread keeps each ticket's changes in order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo

import httpx
import orjson

from gateway.core.model import EventSink, Publisher
from gateway.tickets.changes import Change
from gateway.tickets.policy import WebhookConfig

log = logging.getLogger(__name__)

# Answers worth another try: the receiver is overloaded, restarting or rate limiting us.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def ticket_topic(site: str, ticket_id: str) -> str:
    return f"sitegate/{site}/tickets/{ticket_id}"


@dataclass(frozen=True, slots=True)
class Delivery:
    hook: WebhookConfig
    body: bytes
    key: str  # Idempotency-Key
    label: str  # for log lines: "T-000012 acknowledged"


@dataclass(slots=True)
class WebhookStats:
    delivered: int = 0
    failed: int = 0  # gave up after the last attempt or on a permanent error
    dropped: int = 0  # the queue was full
    retries: int = 0


class Notifier:
    """Publishes each Change; owns the webhook thread (started only when there are webhooks)."""

    def __init__(self, *, site: str, tz: tzinfo, publisher: Publisher | None = None,
                 events: EventSink | None = None, webhooks: Sequence[WebhookConfig] = (),
                 queue_size: int = 1000,
                 client_factory: Callable[[], httpx.Client] = httpx.Client) -> None:
        self.site, self.tz = site, tz
        self.publisher, self.events = publisher, events
        self.webhooks = list(webhooks)
        self.stats = WebhookStats()
        self._queue: queue.Queue[Delivery | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0
        self._client_factory = client_factory
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the webhook thread (once, and only when there are webhooks); deliveries queued
        before wait for it."""
        if self.webhooks and self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="ticket-webhooks", daemon=True)
            self._thread.start()

    def notify(self, change: Change) -> None:
        ticket = change.ticket
        doc = ticket.to_json(self.tz)
        if self.publisher is not None:
            try:
                self.publisher.publish(ticket_topic(self.site, ticket.id), orjson.dumps(doc), qos=1)
            except Exception:
                # A broker problem must never lose the ticket change itself (already committed).
                log.exception("Publishing ticket %s to MQTT failed; the change is stored.", ticket.id)
        if self.events is not None:
            try:
                self.events("ticket", {**doc, "change": change.action})
            except Exception:
                log.exception("The live event sink refused ticket %s.", ticket.id)
        wanted = [hook for hook in self.webhooks if hook.wants(change.action)]
        if not wanted:
            return
        body = orjson.dumps({"site": self.site, "change": change.action, "ticket": doc})
        key = f"{self.site}:{ticket.id}:{ticket.revision}"
        for hook in wanted:
            self._enqueue(Delivery(hook, body, key, f"{ticket.id} {change.action}"))

    def _enqueue(self, delivery: Delivery) -> None:
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            self.stats.dropped += 1
            log.warning("Webhook queue is full (%d waiting); dropped %s for %s. Check that the "
                        "receiver is up, or raise tickets.webhook_queue.",
                        self._queue.maxsize, delivery.label, delivery.hook.url)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery is done (delivered or given up); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the webhook thread: what is queued gets one more attempt each, no further retries."""
        self.start()  # a notifier closed before it started still tries what it was handed
        if self._thread is None:
            return
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    # -- the webhook thread ------------------------------------------------------------------------

    def _run(self) -> None:
        with self._client_factory() as client:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                try:
                    self._deliver(client, item)
                except Exception:
                    self.stats.failed += 1
                    log.exception("Webhook delivery of %s to %s crashed.", item.label, item.hook.url)
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

    def _deliver(self, client: httpx.Client, d: Delivery) -> None:
        hook = d.hook
        headers = {"Content-Type": "application/json", "Idempotency-Key": d.key, **hook.headers}
        if hook.token_env:
            headers["Authorization"] = f"Bearer {os.environ.get(hook.token_env, '')}"
        delay = hook.backoff.total_seconds()
        for attempt in range(1, hook.max_attempts + 1):
            wait: float | None = None
            try:
                response = client.post(hook.url, content=d.body, headers=headers,
                                       timeout=hook.timeout.total_seconds())
                if response.is_success:
                    self.stats.delivered += 1
                    return
                if response.status_code not in RETRY_STATUS:
                    self.stats.failed += 1
                    log.error("Webhook %s refused %s with HTTP %d; not retrying a client error. Check "
                              "the URL and credentials.", hook.url, d.label, response.status_code)
                    return
                problem = f"HTTP {response.status_code}"
                wait = _retry_after(response)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt == hook.max_attempts or self._stop.is_set():
                break
            pause = min(wait if wait is not None else delay, hook.backoff_max.total_seconds())
            log.info("Webhook %s failed for %s (%s); attempt %d of %d in %.1fs.", hook.url, d.label,
                     problem, attempt + 1, hook.max_attempts, pause)
            self.stats.retries += 1
            if self._stop.wait(pause):
                break
            delay = min(delay * 2, hook.backoff_max.total_seconds())
        self.stats.failed += 1
        log.error("Webhook %s: gave up on %s after %d attempts (%s).", hook.url, d.label, attempt, problem)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None
