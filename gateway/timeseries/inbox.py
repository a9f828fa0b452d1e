"""A bounded hand-over between the ingest thread and one sink's worker thread.

`put` never blocks (the ingest thread must not wait on a disk or a network): a batch that does
not fit is refused whole and counted as dropped. The counters `accepted` and `done` let `flush`
wait for exactly the points handed over before it was called.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self, max_items: int) -> None:
        if max_items < 1:
            raise ValueError(f"An inbox must hold at least one item; got max_items={max_items}.")
        self.max_items = max_items
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.accepted = 0  # items ever taken in
        self.done = 0  # items the worker has finished with (stored, spooled or given up)
        self.dropped = 0  # items refused because the inbox was full or closed

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, items: Sequence[T]) -> bool:
        """Take all of `items`, or none of them when they do not fit (then they count as dropped)."""
        if not items:
            return True
        with self._cond:
            if self._closed or len(self._items) + len(items) > self.max_items:
                self.dropped += len(items)
                return False
            self._items.extend(items)
            self.accepted += len(items)
            self._cond.notify_all()
            return True

    def take(self, max_items: int, timeout: float | None) -> list[T] | None:
        """Up to `max_items` items, waiting up to `timeout` for the first; None once closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return None if self._closed else []
            n = min(max_items, len(self._items))
            return [self._items.popleft() for _ in range(n)]

    def finished(self, n: int) -> None:
        """The worker is done with `n` items taken earlier."""
        with self._cond:
            self.done += n
            self._cond.notify_all()

    def wait_done(self, timeout: float) -> bool:
        """True once every item accepted before this call is finished; False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self.accepted
            while self.done < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """Refuse new items; the worker still drains what is queued, then `take` answers None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
