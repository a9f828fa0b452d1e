"""The time-series consumer's reading points: one per message instant, numeric fields only, tagged
with what the registry says the device is now (also after that changes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from gateway.core.model import Decoded, DeviceInfo, Processed, RawMessage, Reading, Value
from gateway.ingest.registry import Registry
from gateway.timeseries.consumer import TimeSeriesConsumer
from gateway.timeseries.point import Point
from gateway.timeseries.writer import TimeSeriesWriter

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Kept:
    """A sink that keeps what it is given (the consumer's output, nothing more)."""

    def __init__(self) -> None:
        self.points: list[Point] = []

    def write(self, points: Sequence[Point]) -> None:
        self.points.extend(points)


def message(seq: int, device: str, values: list[tuple[str, Value, datetime]], kind: str | None = None) -> Processed:
    decoded = Decoded(profile="p", device=device, kind=kind,
                      readings=[Reading(device, metric, value, None, ts) for metric, value, ts in values])
    return Processed(seq, RawMessage(f"x/{device}", b"{}", T0), decoded)


def consumer() -> tuple[TimeSeriesConsumer, Registry, Kept]:
    registry = Registry({"lamp-1": DeviceInfo("lamp-1", "lamp", zone="plaza")}, heartbeat={})
    kept = Kept()
    return TimeSeriesConsumer(TimeSeriesWriter([kept]), site_id="hv", registry=registry), registry, kept  # type: ignore[list-item]


def test_one_point_per_instant_with_the_numeric_fields_and_the_registry_tags() -> None:
    ts, _registry, kept = consumer()
    later = T0 + timedelta(seconds=5)
    ts.handle([message(1, "lamp-1", [("power_w", 41.5, T0), ("power_on", True, T0), ("firmware", "9.1", T0),
                                    ("energy_kwh", 12, T0)]),
               message(2, "lamp-1", [("power_w", 40.0, T0), ("power_w", 39.0, later), ("mode", "auto", later)]),
               message(3, "lamp-1", [("firmware", "9.2", T0)])])
    got = [(p.measurement, dict(p.tags), dict(p.fields), p.ts) for p in kept.points]
    tags = {"site": "hv", "device": "lamp-1", "kind": "lamp", "zone": "plaza"}
    assert got == [("reading", tags, {"power_w": 41.5, "power_on": True, "energy_kwh": 12}, T0),
                   ("reading", tags, {"power_w": 40.0}, T0),
                   ("reading", tags, {"power_w": 39.0}, later)]


def test_a_device_whose_kind_becomes_known_gets_points_tagged_with_it_from_then_on() -> None:
    ts, registry, kept = consumer()
    first = message(1, "meter-9", [("current_a", 0.2, T0)])
    registry.apply(first.decoded, T0)
    ts.handle([first])
    said = message(2, "meter-9", [("current_a", 0.3, T0 + timedelta(seconds=1))], kind="power_meter")
    registry.apply(said.decoded, T0 + timedelta(seconds=1))  # the pipeline applies before consumers
    ts.handle([said])
    assert [p.tags["kind"] for p in kept.points] == ["unknown", "power_meter"]
