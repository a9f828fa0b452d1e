"""Patrol in the running gateway: taps from the pipeline -> tracker -> ack, tickets, points, events.

The tracker is pure and not thread-safe; the pipeline thread drives it and the HTTP API reads it, so
both go through one lock here. The reader's ack is published as soon as the tap's batch is
journaled (the ack says whether the tap counted; a guard waits for it at the checkpoint).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from gateway.core.model import AlertEvent, EventSink, Processed, Publisher
from gateway.patrol.archive import RoundArchive
from gateway.patrol.rounds import RoundView
from gateway.patrol.tracker import PatrolChange, PatrolTracker, TapOutcome
from gateway.timeseries.point import Point

ROUND_END = {"round_completed", "round_incomplete", "round_revised"}


class PatrolConsumer:
    name = "patrol"

    def __init__(self, tracker: PatrolTracker, *, site_id: str, publisher: Publisher | None,
                 alerts: Callable[[Sequence[AlertEvent]], None], points: Callable[[Sequence[Point]], None],
                 events: EventSink | None = None,
                 archive: RoundArchive | None = None) -> None:
        """`archive` keeps each finished round (again when revised) for the monthly report."""
        self.tracker = tracker
        self.site_id = site_id
        self.publisher = publisher
        self.alerts = alerts
        self.points = points
        self.events = events
        self.archive = archive
        self._lock = threading.Lock()
        # Checkpoints missed, and later found visited (a buffered tap), per route since start: /metrics.
        self.missed: Counter[str] = Counter()
        self.recovered: Counter[str] = Counter()

    def handle(self, batch: Sequence[Processed]) -> None:
        for p in batch:
            for tap in p.decoded.taps:
                with self._lock:
                    outcome = self.tracker.on_tap(tap, p.msg.received_at)
                self._outcome(outcome)

    def tick(self, now: datetime) -> None:
        with self._lock:
            changes = self.tracker.tick(now)
        self._changes(changes)

    def next_deadline(self) -> datetime | None:
        """When a window closes or a round starts or ends next: the pipeline ticks us there, before
        the messages stamped after it, so a tap is judged after exactly the misses a replay declares."""
        with self._lock:
            return self.tracker.next_deadline()

    def snapshot(self) -> Any:
        with self._lock:
            return self.tracker.snapshot()

    def restore(self, state: Any) -> None:
        with self._lock:
            self.tracker.restore(state)

    def rounds(self, day: date) -> list[RoundView]:
        with self._lock:
            return self.tracker.rounds(day)

    def _outcome(self, o: TapOutcome) -> None:
        if self.publisher is not None:
            self.publisher.publish(o.ack_topic, o.ack_payload, qos=1, urgent=True)
        tags = {"site": self.site_id, **{k: v for k, v in o.point_tags.items() if v}}
        self.points([Point("patrol_tap", tags, dict(o.point_fields), o.ts)])
        if o.alerts:
            self.alerts(o.alerts)
        if self.events is not None:
            self.events("tap", {**o.ack, "ts": o.ts.isoformat()})
        self._changes(o.changes)

    def in_progress(self) -> int:
        """Rounds started and not ended, for /metrics."""
        with self._lock:
            return self.tracker.rounds_in_progress()

    def _changes(self, changes: Sequence[PatrolChange]) -> None:
        for c in changes:
            if c.kind == "checkpoint_missed":
                self.missed[c.route] += 1  # the tracker says so once per checkpoint and round
            elif c.kind == "checkpoint_recovered":
                self.recovered[c.route] += 1  # a buffered tap showed it was visited after all
        alerts = [c.alert for c in changes if c.alert is not None]
        if alerts:
            self.alerts(alerts)
        points = []
        for c in changes:
            if c.kind in ROUND_END:
                if self.archive is not None:
                    self.archive.keep(c.round, c.ts)
                # Written at the scheduled start: a revision overwrites the round's point.
                points.append(Point("patrol_round", {"site": self.site_id, "route": c.route, "round": c.round_id},
                                    dict(c.round_fields), datetime.fromisoformat(c.round.scheduled_start)))
            if self.events is not None:
                self.events("round", {"change": c.kind, "checkpoint": c.checkpoint, **c.round.to_dict()})
        if points:
            self.points(points)
