"""Live event bus: the pipeline thread publishes, each SSE client reads its own bounded queue.

Listeners (`listen`) are called in the publisher's thread for every event of the kinds they name,
before the SSE queues: for a feature that must see every conclusion (the head-office events
outbox), not a sample of them. `wants(kind)` tells a publisher whether anybody would get an event
of that kind, so the pipeline builds no per-message "reading" event that nobody reads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # a slow dashboard loses old events, never slows the gateway down


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = []
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._listened: frozenset[str] | None = frozenset()  # the kinds listeners take (None: all)

    def listen(self, listener: Callable[[str, dict[str, Any]], None], kinds: Collection[str] | None = None) -> None:
        """Call `listener(kind, data)` inline for every event of `kinds` (None: of every kind) from now
        on; it must be quick."""
        with self._lock:
            if kinds is None:
                self._listeners = [*self._listeners, listener]
                self._listened = None
                return
            wanted = frozenset(kinds)
            self._listeners = [*self._listeners,
                               lambda kind, data: listener(kind, data) if kind in wanted else None]
            if self._listened is not None:
                self._listened = self._listened | wanted

    def wants(self, kind: str) -> bool:
        """Would an event of this kind reach anybody (a listener of the kind, or an SSE client)?"""
        listened = self._listened
        return bool(self._subscribers) or listened is None or kind in listened

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            self._subscribers.append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            self._subscribers = [(lp, q) for lp, q in self._subscribers if q is not queue]

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Thread-safe; cheap when nobody listens."""
        for listener in self._listeners:
            try:
                listener(kind, data)
            except Exception:  # one listener's trouble must not stop the others nor the publisher
                log.exception("An event listener refused a %s event.", kind)
        if not self._subscribers:
            return
        event = {"type": kind, "data": data}
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:  # loop closed: the client is gone
                self.unsubscribe(queue)


def _offer(queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
