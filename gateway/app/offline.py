"""The live gateway without a broker, on a clock that moves only when fed: for replay and the oracle.

`OfflineGateway` builds the SAME Gateway, pipeline and features as `sitegate run`, with a FakeClock,
a temporary data folder, no embedded time-series store and no webhooks. Messages are fed with the
time they arrived; before each instant every timer that falls due (rule `for`, heartbeats, patrol
windows) fires at its own deadline, so the conclusions are what the live gateway would reach.
Messages that arrived at the same instant go through the pipeline as one batch, as they would live.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.app.features import attach_features
from gateway.core.clock import FakeClock
from gateway.core.model import Inbound
from gateway.core.site import Site, StorageConfig, TimeseriesConfig
from gateway.ingest.gateway import Gateway
from gateway.maintenance.service import MaintenanceService
from gateway.patrol.consumer import PatrolConsumer
from gateway.reports.source import ReportSource
from gateway.rules.feature import Rules
from gateway.tickets.service import TicketService


@dataclass
class OfflineResult:
    tickets: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    rejected: int
    messages: int

    def to_json(self) -> dict[str, Any]:
        return {"tickets": self.tickets, "rounds": self.rounds, "rejected": self.rejected}


class OfflineGateway:
    """Use as a context manager: `with OfflineGateway(site, start) as gw: gw.feed(at, [(topic, payload)])`.

    `records`: a folder whose ticket store and patrol round archive outlive this gateway (a month of
    nights, each a fresh gateway with no memory of the devices, adding to one store); None: they
    go with the temporary folder, like everything else."""

    def __init__(self, site: Site, start: datetime, *, records: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="sitegate-offline-")
        offline = site.model_copy(update={"storage": StorageConfig(path=Path(self._tmp.name)),
                                          "timeseries": TimeseriesConfig(embedded=False)})
        self.clock = FakeClock(start)
        self.gw = Gateway(offline, clock=self.clock, connect_mqtt=False, records_dir=records)
        features = attach_features(self.gw, offline=True)
        self.gw.start(intake=False)
        self._rules: Rules = features["rules"]
        self._patrol: PatrolConsumer | None = features["patrol"]
        self.tickets: TicketService = features["tickets"]
        self.maintenance: MaintenanceService | None = features.get("maintenance")
        self.reports: ReportSource | None = features.get("reports")
        self._days: set[date] = set()
        self.messages = 0

    def __enter__(self) -> OfflineGateway:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.gw.stop()
        self._tmp.cleanup()

    def _deadlines(self) -> Iterator[datetime]:
        engine_next = self._rules.consumer.engine.next_deadline()
        if engine_next is not None:
            yield engine_next
        if self._patrol is not None:
            patrol_next = self._patrol.tracker.next_deadline()
            if patrol_next is not None:
                yield patrol_next

    def advance(self, to: datetime) -> None:
        """Fire every timer that falls due up to `to`, each at its own time, then stand at `to`."""
        clock = self.clock
        ticked_at: datetime | None = None
        for _ in range(1_000_000):
            due = [d for d in self._deadlines() if d <= to]
            if not due:
                break
            at = max(min(due), clock.now())
            if at == ticked_at:  # a deadline that did not move after its tick: step past it
                at += timedelta(microseconds=1)
            if at > to:
                break
            clock.set(at)
            self._days.add(at.astimezone(self.gw.tz).date())
            self.gw.pipeline.tick()
            ticked_at = at
        clock.set(max(to, clock.now()))
        self.gw.pipeline.tick()

    def feed(self, at: datetime, messages: Sequence[tuple[str, bytes]]) -> None:
        """Messages that arrived together at `at` (one batch, as the live intake would take them)."""
        ts = at.timestamp()
        self.feed_batch(at, [Inbound(topic, payload, ts) for topic, payload in messages])

    def feed_batch(self, at: datetime, batch: list[Inbound]) -> None:
        """One batch of messages that arrived up to `at`, each stamped with its own arrival time:
        timers due before `at` fire first, as a live batch waits for the pipeline's next turn."""
        self.advance(at)
        self._days.add(at.astimezone(self.gw.tz).date())
        if batch:
            self.gw.pipeline.process(batch)
            self.messages += len(batch)

    def result(self) -> OfflineResult:
        tickets = [t.to_json(self.gw.tz) for t in self.tickets.list(limit=1_000_000)]
        tickets.sort(key=lambda t: t["id"])
        rounds: list[dict[str, Any]] = []
        if self._patrol is not None:
            end = self.clock.now()
            for day in sorted(self._days):
                # Rounds of the fed period only, not the rest of the timetable of its last day.
                rounds.extend(r.to_dict() for r in self._patrol.rounds(day)
                              if datetime.fromisoformat(r.scheduled_start) <= end)
        return OfflineResult(tickets, rounds, int(sum(_rejected(self.gw).values())), self.messages)


def _rejected(gw: Gateway) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in gw.metrics.rejected.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                out[sample.labels["reason"]] = sample.value
    return out
