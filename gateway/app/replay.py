"""`sitegate replay`: recorded traffic through the SAME pipeline and consumers as the live gateway,
on the recorded clock, with no broker. Timers (rule `for`, heartbeats, patrol windows) fire as
simulated time passes, at their exact deadlines. Same input, same output.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.app.features import attach_features
from gateway.core.clock import FakeClock
from gateway.core.model import Inbound
from gateway.core.site import Site, StorageConfig, TimeseriesConfig
from gateway.ingest import capture
from gateway.ingest.gateway import Gateway
from gateway.patrol.consumer import PatrolConsumer
from gateway.rules.feature import Rules
from gateway.tickets.service import TicketService


@dataclass
class ReplayResult:
    tickets: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    rejected: int
    messages: int

    def to_json(self) -> dict[str, Any]:
        return {"tickets": self.tickets, "rounds": self.rounds, "rejected": self.rejected}


def _deadlines(rules: Rules, patrol: PatrolConsumer | None) -> Iterator[datetime]:
    engine_next = rules.consumer.engine.next_deadline()
    if engine_next is not None:
        yield engine_next
    if patrol is not None:
        patrol_next = patrol.tracker.next_deadline()
        if patrol_next is not None:
            yield patrol_next


def replay(capture_file: Path, site: Site, *, until: datetime | None = None) -> ReplayResult:
    messages = list(capture.read(capture_file))
    if not messages:
        return ReplayResult([], [], 0, 0)
    start = messages[0].received_at
    with tempfile.TemporaryDirectory(prefix="sitegate-replay-") as tmp:
        offline = site.model_copy(update={"storage": StorageConfig(path=Path(tmp)),
                                          "timeseries": TimeseriesConfig(embedded=False)})
        clock = FakeClock(start)
        gw = Gateway(offline, clock=clock, connect_mqtt=False)
        features = attach_features(gw, offline=True)
        gw.start(intake=False)
        rules: Rules = features["rules"]
        patrol: PatrolConsumer | None = features["patrol"]
        ticket_service: TicketService = features["tickets"]
        days: set[date] = set()

        def advance(to: datetime) -> None:
            # Fire every timer that falls due up to `to`, each at its own time.
            ticked_at: datetime | None = None
            for _ in range(1_000_000):
                due = [d for d in _deadlines(rules, patrol) if d <= to]
                if not due:
                    break
                at = max(min(due), clock.now())
                if at == ticked_at:  # a deadline that did not move after its tick: step past it
                    at += timedelta(microseconds=1)
                if at > to:
                    break
                clock.set(at)
                days.add(at.astimezone(gw.tz).date())
                gw.pipeline.tick()
                ticked_at = at
            clock.set(max(to, clock.now()))
            gw.pipeline.tick()

        count = 0
        for msg in messages:
            if until is not None and msg.received_at > until:
                break
            advance(msg.received_at)
            days.add(msg.received_at.astimezone(gw.tz).date())
            gw.pipeline.process([Inbound(msg.topic, msg.payload, msg.received_at.timestamp())])
            count += 1
        advance(until if until is not None else clock.now())
        rejected = int(sum(v for k, v in _rejected(gw).items()))
        tickets = [t.to_json(gw.tz) for t in ticket_service.list(limit=1_000_000)]
        tickets.sort(key=lambda t: t["id"])
        rounds: list[dict[str, Any]] = []
        if patrol is not None:
            end = clock.now()
            for day in sorted(days):
                # Rounds of the replayed period only, not the rest of the timetable of its last day.
                rounds.extend(r.to_dict() for r in patrol.rounds(day)
                              if datetime.fromisoformat(r.scheduled_start) <= end)
        gw.stop()
    return ReplayResult(tickets, rounds, rejected, count)


def _rejected(gw: Gateway) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in gw.metrics.rejected.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                out[sample.labels["reason"]] = sample.value
    return out
