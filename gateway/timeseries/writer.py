"""The time-series writer: one call from the ingest thread, fanned out to every configured sink.

Each sink owns its bounded inbox and worker thread, so a slow or absent InfluxDB never delays the
embedded store (or the ingest thread): `write` only hands the batch to each sink and returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Literal, Protocol

from gateway.timeseries.point import Point

log = logging.getLogger(__name__)

SinkState = Literal["ok", "buffering", "down"]
_RANK: dict[SinkState, int] = {"ok": 0, "buffering": 1, "down": 2}


class Sink(Protocol):
    """Where points go. Every method is thread-safe; `write` never blocks on I/O."""

    name: str

    def write(self, points: Sequence[Point]) -> None:
        """Hand over a batch; a batch that cannot be taken is counted in `dropped`."""
        ...

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every point written before this call is stored; False after `timeout` seconds."""
        ...

    def durable(self, timeout: float = 10.0) -> bool:
        """Wait until every point written before this call would survive kill -9 (committed to the
        embedded store, or in the InfluxDB spool); False after `timeout` seconds."""
        ...

    def start(self) -> None:
        """Start its threads; called once by the gateway's start (never in a constructor)."""
        ...

    def close(self) -> None:
        """Store what was handed over (as far as the sink can) and stop its threads."""
        ...

    def status(self) -> SinkState: ...

    def backlog(self) -> int:
        """Points handed over and not yet stored."""
        ...

    def dropped(self) -> int:
        """Points lost on purpose (full buffers), counted since the sink was created."""
        ...


class TimeSeriesWriter:
    """Fan-out to `sinks`; both the embedded store and InfluxDB can run at once."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sinks)

    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        for sink in self.sinks:
            try:
                sink.write(points)
            except Exception:  # one sink's bug must not stop the others or the ingest thread
                log.exception("Time-series sink %s refused a batch of %d points; they are lost for it.",
                              sink.name, len(points))

    def flush(self, timeout: float = 10.0) -> bool:
        """Flush every sink within one shared deadline; True if all of them finished."""
        deadline = time.monotonic() + timeout
        ok = True
        for sink in self.sinks:
            ok = sink.flush(max(0.0, deadline - time.monotonic())) and ok
        return ok

    def durable(self, timeout: float = 10.0) -> bool:
        """True once every sink holds, safe from kill -9, what was written before this call."""
        deadline = time.monotonic() + timeout
        ok = True
        for sink in self.sinks:
            ok = sink.durable(max(0.0, deadline - time.monotonic())) and ok
        return ok

    def start(self) -> None:
        for sink in self.sinks:
            sink.start()

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("Closing time-series sink %s failed.", sink.name)

    def status(self) -> SinkState:
        """The worst state of the sinks: "down" if any loses points, "buffering" if any is behind."""
        worst: SinkState = "ok"
        for sink in self.sinks:
            state = sink.status()
            if _RANK[state] > _RANK[worst]:
                worst = state
        return worst

    def backlog(self) -> int:
        return sum(sink.backlog() for sink in self.sinks)

    def dropped(self) -> int:
        return sum(sink.dropped() for sink in self.sinks)
