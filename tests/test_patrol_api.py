"""/api/patrol/rounds and /api/patrol/report over HTTP, from a tracker fed a short night."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.core.clock import FakeClock
from gateway.core.model import Tap
from gateway.patrol.api import patrol_router
from gateway.patrol.model import load_plan
from gateway.patrol.rounds import RoundView
from gateway.patrol.tracker import PatrolTracker
from tests.support.http_thread import ServerThread

SH = ZoneInfo("Asia/Shanghai")
PLAN = load_plan(Path(__file__).parent / "data" / "patrol.yaml")


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


@pytest.fixture
def client() -> TestClient:
    tracker = PatrolTracker(PLAN, tz=SH, site_id="harbor-view")
    tracker.tick(at(19, 50))
    for reader, tag, ts in [("cp-gate-north", "G0017", at(20, 1)), ("cp-b1-lobby", "G0017", at(20, 7))]:
        tracker.on_tap(Tap(device=reader, tag=tag, ts=ts, received_at=ts), ts)
    tracker.tick(at(21))
    app = FastAPI()
    app.include_router(patrol_router(tracker.rounds, plan=PLAN, site_id="harbor-view", tz=SH,
                                     clock=FakeClock(at(21))))
    return TestClient(app)


def test_rounds_of_a_date_have_the_contract_shape(client: TestClient) -> None:
    answer = client.get("/api/patrol/rounds", params={"date": "2026-11-23"})
    assert answer.status_code == 200
    rounds = answer.json()
    first = rounds[0]
    assert {k: first[k] for k in ("route", "round_id", "scheduled_start", "status", "expected", "visited",
                                  "missed", "late", "coverage")} == {
        "route": "night-north", "round_id": "night-north@2026-11-23T20:00+08:00",
        "scheduled_start": "2026-11-23T20:00:00+08:00", "status": "incomplete", "expected": 4, "visited": 2,
        "missed": ["cp-b1-roof", "cp-garage-b1"], "late": 0, "coverage": 0.5}
    assert [c["state"] for c in first["checkpoints"]] == ["visited", "visited", "missed", "missed"]
    # Later rounds of the evening are listed as scheduled, in start order.
    assert [(r["route"], r["scheduled_start"][11:16], r["status"]) for r in rounds[1:]] == [
        ("plant-check", "21:30", "scheduled"), ("night-north", "22:00", "scheduled"),
        ("plant-check", "22:30", "scheduled"), ("plant-check", "23:30", "scheduled")]


def test_without_a_date_the_rounds_are_the_patrol_night_the_clock_is_in(client: TestClient) -> None:
    assert client.get("/api/patrol/rounds").json() == client.get(
        "/api/patrol/rounds", params={"day": "2026-11-23"}).json()


def test_a_bad_date_is_refused_with_a_sentence(client: TestClient) -> None:
    answer = client.get("/api/patrol/rounds", params={"date": "23/11/2026"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == \
        "date '23/11/2026' is not a date; write it as YYYY-MM-DD, e.g. 2026-11-23."


def test_report_as_json_and_csv(client: TestClient) -> None:
    as_json = client.get("/api/patrol/report", params={"date": "2026-11-23"}).json()
    assert as_json["date"] == "2026-11-23" and as_json["open_rounds"] == 4
    [row] = as_json["rows"]
    assert (row["route"], row["guard"], row["visited"], row["missed"], row["coverage"]) == \
        ("night-north", "G017", 2, 2, 0.5)
    as_csv = client.get("/api/patrol/report", params={"date": "2026-11-23", "format": "csv"})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="patrol-harbor-view-2026-11-23.csv"' in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [(r["guard"], r["coverage"]) for r in rows] == [("G017", "0.5"), ("*", "0.5")]


def test_unknown_report_format_is_refused(client: TestClient) -> None:
    answer = client.get("/api/patrol/report", params={"format": "pdf"})
    assert answer.status_code == 422
    assert "use format=json or format=csv" in answer.json()["detail"]


def test_openapi_documents_the_rounds_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/patrol/rounds" in schema["paths"]
    shape = schema["components"]["schemas"]["RoundView"]
    assert {"route", "round_id", "scheduled_start", "status", "expected", "visited", "missed", "late",
            "coverage"} <= set(shape["required"])
    assert schema["components"]["schemas"]["CheckpointView"]["properties"]["state"]["type"] == "string"


def test_empty_day_is_an_empty_list(client: TestClient) -> None:
    assert client.get("/api/patrol/rounds", params={"date": date(2026, 1, 1).isoformat()}).json() == []


def test_a_request_waiting_for_the_tracker_does_not_hold_up_the_server() -> None:
    """The rounds come from the tracker behind the lock the pipeline thread holds while it judges a
    tap; a request waiting there must not stop the event loop from serving anything else."""
    waiting, release = threading.Event(), threading.Event()

    def rounds_behind_a_held_lock(day: date) -> Sequence[RoundView]:
        waiting.set()
        release.wait(10)
        return []

    app = FastAPI()
    app.include_router(patrol_router(rounds_behind_a_held_lock, plan=PLAN, site_id="harbor-view", tz=SH,
                                     clock=FakeClock(at(21))))

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    with ServerThread(app) as server:
        answers: list[int] = []
        for path in ("/api/patrol/rounds?date=2026-11-23", "/api/patrol/report?date=2026-11-23"):
            blocked = threading.Thread(target=lambda p=path: answers.append(
                httpx.get(server.url + p, timeout=15).status_code))
            waiting.clear()
            blocked.start()
            try:
                assert waiting.wait(5)
                assert httpx.get(server.url + "/ping", timeout=3).text == '"pong"'
            finally:
                release.set()
                blocked.join(15)
                release.clear()
        assert answers == [200, 200]
