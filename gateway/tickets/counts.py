"""Per-device open ticket counts for health scores, cached so a page of devices costs one query."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from gateway.tickets.service import TicketService


class OpenTicketCounts:
    """Per-device open ticket counts by severity, re-read at most every `ttl` seconds."""

    def __init__(self, service: TicketService, ttl: float = 2.0) -> None:
        self.service = service
        self.ttl = ttl
        self._at = 0.0
        self._counts: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, device: str) -> Mapping[str, int]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl:
                self._counts = self.service.open_counts()
                self._at = time.monotonic()
            return self._counts.get(device, {})
