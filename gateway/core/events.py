"""Live event bus: the pipeline thread publishes, each SSE client reads its own bounded queue.

Listeners (`listen`) are called in the publisher's thread for every event, before the SSE queues:
for a feature that must see every conclusion (the head-office events outbox), not a sample of them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # a slow dashboard loses old events, never slows the gateway down


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = []
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []

    def listen(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Call `listener(kind, data)` inline for every event from now on (it must be quick)."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

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
