"""`/api/maintenance` over HTTP (the router alone, no auth middleware) and the /metrics gauge."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from gateway.core.clock import FakeClock
from gateway.maintenance.api import make_router
from gateway.maintenance.metrics import MaintenanceCollector
from tests.test_maintenance import MONTHLY, make

TZ = ZoneInfo("Asia/Shanghai")


def test_items_are_recorded_over_http_and_the_overview_counts_them(tmp_path: Path) -> None:
    _tickets, service = make(tmp_path / "t.db", [MONTHLY])
    clock = FakeClock(datetime(2026, 2, 26, 8, tzinfo=TZ))
    opened = service.open_due(clock.now(), clock.now())
    app = FastAPI()
    app.include_router(make_router(service, clock))
    client = TestClient(app)
    assert client.get("/api/maintenance").json()["counts"] == {"due": 2, "overdue": 0, "expired": 0, "expiring": 0}
    ticket = opened[0].id
    answer = client.post(f"/api/maintenance/{ticket}/items/0", json={"result": "fault", "note": "gauge red"})
    assert answer.status_code == 200 and answer.json()["checklist"][0]["result"] == "fault"
    assert client.post(f"/api/maintenance/{ticket}/items/9", json={"result": "ok"}).status_code == 404
    assert client.post(f"/api/maintenance/{ticket}/items/0", json={"result": "maybe"}).status_code == 422
    assert client.post("/api/maintenance/T-999999/items/0", json={"result": "ok"}).status_code == 404
    client.post(f"/api/maintenance/{ticket}/items/1", json={"result": "ok"})
    done = client.post(f"/api/maintenance/{ticket}/items/2", json={"result": "ok"}).json()
    assert done["status"] == "resolved"
    assert client.post(f"/api/maintenance/{ticket}/items/2", json={"result": "ok"}).status_code == 409
    clock.set(datetime(2026, 3, 2, 0, 0, tzinfo=TZ))  # the other's due day (1 March) has ended
    assert client.get("/api/maintenance").json()["counts"]["overdue"] == 1
    registry = CollectorRegistry()
    registry.register(MaintenanceCollector(lambda: service.counts(clock.now())))
    text = generate_latest(registry).decode()
    assert 'sitegate_maintenance_items{state="overdue"} 1.0' in text
