from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.core.clock import FakeClock
from gateway.timeseries.api import make_router, parse_step
from gateway.timeseries.embedded import EmbeddedStore
from gateway.timeseries.point import Point

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TAGS = {"site": "hv", "device": "ext-1", "kind": "extinguisher", "zone": "north"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    clock = FakeClock(T0 + timedelta(hours=2))
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    store.start()
    store.write([Point("reading", TAGS, {"pressure_mpa": 1.0 + m / 100, "fw": "1.0"}, T0 + timedelta(minutes=m))
                 for m in range(120)])
    store.write([Point("equipment_health", TAGS, {"online": m % 2 == 0, "health": 0.5, "open_tickets": 1},
                       T0 + timedelta(minutes=m)) for m in range(120)])
    assert store.flush(10)
    app = FastAPI()
    app.include_router(make_router(store, clock=clock))
    with TestClient(app) as c:
        yield c
    store.close()


def get(client: TestClient, **params: str) -> tuple[int, dict[str, object]]:
    r = client.get("/api/series", params=params)
    return r.status_code, r.json()


def test_raw_points_in_a_range(client: TestClient) -> None:
    status, body = get(client, measurement="reading", field="pressure_mpa", device="ext-1",
                       **{"from": "2026-11-23T20:00:00+08:00", "to": "2026-11-23T12:03:00Z"})
    assert status == 200
    assert body == {"points": [["2026-11-23T12:00:00+00:00", 1.0], ["2026-11-23T12:01:00+00:00", 1.01],
                               ["2026-11-23T12:02:00+00:00", 1.02]],
                    "truncated": False, "limit": 10_000, "resolution": "raw"}


def test_defaults_to_the_last_24_hours_before_now(client: TestClient) -> None:
    status, body = get(client, measurement="reading", field="pressure_mpa")
    assert status == 200 and len(body["points"]) == 120  # type: ignore[arg-type]


def test_step_answers_one_average_per_step(client: TestClient) -> None:
    status, body = get(client, measurement="equipment_health", field="online", zone="north", step="1h",
                       **{"from": "2026-11-23T12:00:00Z", "to": "2026-11-23T14:00:00Z"})
    assert status == 200 and body["resolution"] == "1h"
    assert body["points"] == [["2026-11-23T12:00:00+00:00", 0.5], ["2026-11-23T13:00:00+00:00", 0.5]]


def test_a_limit_that_cuts_says_so(client: TestClient) -> None:
    status, body = get(client, measurement="reading", field="pressure_mpa", limit="5")
    assert status == 200 and len(body["points"]) == 5 and body["truncated"] is True  # type: ignore[arg-type]


@pytest.mark.parametrize(("params", "reason"), [
    ({"measurement": "readings", "field": "x"}, "Unknown measurement 'readings'; use one of"),
    ({"measurement": "equipment_health", "field": "pressure"}, "has no field 'pressure'"),
    ({"measurement": "reading", "field": "pressure_mpa", "from": "yesterday"}, "not an ISO 8601 time"),
    ({"measurement": "reading", "field": "pressure_mpa", "to": "2026-11-23T12:00:00"}, "has no UTC offset"),
    ({"measurement": "reading", "field": "pressure_mpa", "from": "2026-11-23T13:00:00Z",
      "to": "2026-11-23T12:00:00Z"}, "is not before the end"),
    ({"measurement": "reading", "field": "pressure_mpa", "step": "5 minutes"}, "is not a duration"),
    ({"measurement": "reading", "field": "pressure_mpa", "step": "0s"}, "is not a duration"),
    ({"measurement": "reading", "field": "pressure_mpa", "limit": "lots"}, "not a whole number"),
    ({"measurement": "reading", "field": "pressure_mpa", "limit": "0"}, "between 1 and"),
    ({"measurement": "reading", "field": "pressure_mpa", "limit": "99999999"}, "between 1 and"),
    ({"measurement": "reading", "field": "fw", "step": "1h"}, "cannot be averaged"),
    ({"measurement": "reading", "field": "pressure_mpa", "step": "1h", "agg": "p99"}, "Unknown aggregate"),
])
def test_bad_parameters_get_400_with_the_reason(client: TestClient, params: dict[str, str], reason: str) -> None:
    status, body = get(client, **params)
    assert status == 400
    assert reason in str(body["detail"])


def test_a_missing_required_parameter_is_a_4xx_naming_it(client: TestClient) -> None:
    status, body = get(client, field="pressure_mpa")
    assert 400 <= status < 500 and "measurement" in str(body["detail"])


def test_step_units() -> None:
    assert parse_step("30s") == timedelta(seconds=30)
    assert parse_step("5m") == timedelta(minutes=5)
    assert parse_step("2h") == timedelta(hours=2)
    assert parse_step("1d") == timedelta(days=1)
    assert parse_step("90") == timedelta(seconds=90)
