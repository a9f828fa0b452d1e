"""The time-series consumer's minutely `equipment_health` points: one per device, the figures its
health and open tickets say, built with Point.trusted and equal to what the checking constructor
builds; nothing more until the next site minute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from gateway.core.model import DeviceInfo
from gateway.ingest.registry import Registry
from gateway.timeseries.consumer import TimeSeriesConsumer
from gateway.timeseries.point import Point
from tests.test_registry import T0, mixed_devices

MIN = timedelta(minutes=1)


class Writer:
    def __init__(self) -> None:
        self.points: list[Point] = []

    def write(self, points: Sequence[Point]) -> None:
        self.points.extend(points)


def consumer(reg: Registry, tickets: Mapping[str, Mapping[str, int]]) -> tuple[TimeSeriesConsumer, Writer]:
    writer = Writer()
    made = TimeSeriesConsumer(writer, site_id="hv", registry=reg,  # type: ignore[arg-type]
                              open_tickets=lambda device: tickets.get(device, {}))
    return made, writer


def fields(point: Point) -> tuple[Any, ...]:
    return point.measurement, dict(point.tags), dict(point.fields), point.ts, point.to_line()


def test_equipment_health_points_say_each_devices_health_online_and_open_tickets() -> None:
    reg = mixed_devices(timedelta(minutes=10))
    ts, writer = consumer(reg, {"ext-1": {"major": 1, "minor": 2}})
    at = T0 + 7 * MIN  # ext-1 is getting stale (past half its heartbeat)
    ts.tick(at)
    expected = [Point("equipment_health", {"site": "hv", "device": h.info.id, "kind": h.info.kind,
                                           "zone": h.info.zone},
                      {"online": h.online is True, "health": h.health.score,
                       "open_tickets": {"ext-1": 3}.get(h.info.id, 0)}, at)
                for h in reg.healths(at)]
    assert [fields(p) for p in writer.points] == [fields(p) for p in expected]
    by_device = {p.tags["device"]: p.fields for p in writer.points}
    # 1 - 0.12 stale (7 of 10 minutes) - 0.4 (major, firing) = 0.48, held inside faulty's 0.1..0.45.
    assert by_device["ext-1"] == {"online": True, "health": 0.45, "open_tickets": 3}
    assert by_device["z"] == {"online": False, "health": 0.0, "open_tickets": 0}
    assert by_device["d"]["health"] == 0.7 and by_device["idle"]["health"] == 1.0


def test_equipment_health_is_written_once_a_site_minute() -> None:
    reg = Registry({"idle": DeviceInfo("idle")}, heartbeat={})
    ts, writer = consumer(reg, {})
    ts.tick(T0)
    ts.tick(T0 + 59 * timedelta(seconds=1))
    assert [p.ts for p in writer.points] == [T0]
    ts.tick(T0 + MIN)
    assert [p.ts for p in writer.points] == [T0, T0 + MIN]
