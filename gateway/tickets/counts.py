"""Per-device open ticket counts for health scores, cached so a page of devices costs one query.

Device views are built for the HTTP API and for the pipeline's `equipment_health` points, so a
caller must never wait for the tickets database: it gets the counts of the last read at once, and a
stale copy starts one read in the background. A slow or locked database delays the figures, never
ingest nor a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Counts = dict[str, dict[str, int]]  # device -> severity -> active tickets


class OpenTicketCounts:
    """Per-device open ticket counts by severity, re-read in the background at most every `ttl` s."""

    def __init__(self, read: Callable[[], Counts], ttl: float = 2.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self.ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()  # guards the fields below only, never held during a read
        self._counts: Counts = read()  # at start-up, before ingest and HTTP run
        self._at = monotonic()
        self._refreshing = False

    def __call__(self, device: str) -> Mapping[str, int]:
        with self._lock:
            counts = self._counts
            stale = not self._refreshing and self._monotonic() - self._at > self.ttl
            if stale:
                self._refreshing = True
        if stale:
            threading.Thread(target=self._refresh, name="open-ticket-counts", daemon=True).start()
        return counts.get(device, {})

    def _refresh(self) -> None:
        try:
            fresh = self._read()
        except Exception:
            log.exception("Reading open ticket counts failed; health scores keep the last counts.")
            fresh = None
        with self._lock:
            if fresh is not None:
                self._counts = fresh
            self._at = self._monotonic()
            self._refreshing = False
