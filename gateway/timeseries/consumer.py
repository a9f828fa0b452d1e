"""Time series in the running gateway: every decoded reading becomes a `reading` point, and every
device gets an `equipment_health` point now and then.

Durability: the consumer's snapshot is taken only after every sink holds what was handed to it
(the embedded store committed it, the InfluxDB sink spooled it). The pipeline stores that snapshot
with its journal position, so after a kill -9 the journal after it is replayed into the sinks:
nothing is lost. Replayed points are byte-identical (same journal time stamps), so a resend
overwrites rather than adds (InfluxDB and VictoriaMetrics keep one value per series and time).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from gateway.core.model import Processed, Value
from gateway.ingest.registry import Registry
from gateway.timeseries.point import Point
from gateway.timeseries.writer import TimeSeriesWriter

log = logging.getLogger("sitegate.timeseries")


def _field(value: Value) -> float | int | bool | None:
    # Strings (firmware versions, modes) are not time series.
    if isinstance(value, bool | int | float):
        return value
    return None


class TimeSeriesConsumer:
    name = "timeseries"

    def __init__(self, writer: TimeSeriesWriter, *, site_id: str, registry: Registry,
                 open_tickets: Callable[[str], Mapping[str, int]] = lambda _d: {},
                 health_every: timedelta = timedelta(minutes=1), spool_timeout: float = 5.0) -> None:
        self.writer = writer
        self.site_id = site_id
        self.registry = registry
        self.open_tickets = open_tickets
        self.health_every = health_every
        self.spool_timeout = spool_timeout
        self._next_health: datetime | None = None
        self._tags: dict[str, dict[str, str]] = {}  # device -> its reading points' tags
        self._tags_version = -1  # the registry's info_version they were made at

    def write(self, points: Sequence[Point]) -> None:
        """For the other consumers (patrol, tickets) to add their measurements."""
        self.writer.write(points)

    def handle(self, batch: Sequence[Processed]) -> None:
        points: list[Point] = []
        tags_of = self._device_tags()
        for p in batch:
            d = p.decoded
            readings = d.readings
            if not readings or d.device is None:
                continue
            tags = tags_of.get(d.device)
            if tags is None:
                info = self.registry.info(d.device)
                tags = tags_of[d.device] = {"site": self.site_id, "device": d.device, "kind": info.kind,
                                            "zone": info.zone}
            ts = readings[0].ts
            if all(r.ts == ts for r in readings):  # one instant (almost every message): one point
                fields = {r.metric: r.value for r in readings if _field(r.value) is not None}
                if fields:
                    # The name and tags are ours: only values and times need a look (Point.trusted).
                    points.append(Point.trusted("reading", tags, fields, ts))
                continue
            by_ts: dict[datetime, dict[str, float | int | bool]] = {}
            for r in readings:
                value = _field(r.value)
                if value is not None:
                    by_ts.setdefault(r.ts, {})[r.metric] = value
            points.extend(Point.trusted("reading", tags, fields, ts) for ts, fields in by_ts.items())
        log.debug("%d reading points from %d messages", len(points), len(batch))
        self.writer.write(points)

    def _device_tags(self) -> dict[str, dict[str, str]]:
        """Each device's reading tags, kept until what any device is changes (a tags dict per message
        was a third of this consumer's time). Points share them: nothing changes a point's tags."""
        version = self.registry.info_version
        if version != self._tags_version:
            self._tags.clear()
            self._tags_version = version
        return self._tags

    def tick(self, now: datetime) -> None:
        if self._next_health is not None and now < self._next_health:
            return
        self._next_health = now + self.health_every
        points = []
        # Health alone, not each device's API view: that was ~3 KB a device, all at once. The name
        # and tags are ours and the fields built here (Point.trusted), as for the readings.
        site, open_tickets = self.site_id, self.open_tickets
        for info, online, health in self.registry.healths(now):
            counts = open_tickets(info.id)
            points.append(Point.trusted(
                "equipment_health", {"site": site, "device": info.id, "kind": info.kind, "zone": info.zone},
                {"online": online is True, "health": float(health.score),
                 "open_tickets": int(sum(counts.values())) if counts else 0}, now))
        self.writer.write(points)

    def snapshot(self) -> Any:
        if not self.writer.durable(self.spool_timeout):
            # Not safe to move the replay position forward; try again at the next snapshot.
            raise TimeoutError("time-series sinks did not take their points in time")
        return None

    def restore(self, state: Any) -> None:
        del state
