"""/api/reports/monthly through the whole app, and patrol rounds kept past a restart for it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from gateway.core.model import Tap
from gateway.patrol.archive import RETENTION, RoundArchive
from gateway.patrol.consumer import PatrolConsumer
from gateway.patrol.model import load_plan
from gateway.patrol.tracker import PatrolTracker
from gateway.reports.coverage import patrol_figures
from gateway.tickets.changes import Request
from gateway.web.app import create_app
from tests.support.fakesite import FakeSite

SH = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).parent / "data"
PLAN = load_plan(DATA / "patrol.yaml")
NOV, DEC = datetime(2026, 11, 1, tzinfo=SH), datetime(2026, 12, 1, tzinfo=SH)


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def tap(reader: str, tag: str, ts: datetime) -> SimpleNamespace:
    """What the pipeline hands the patrol consumer: a processed message carrying one tap."""
    return SimpleNamespace(decoded=SimpleNamespace(taps=[Tap(device=reader, tag=tag, ts=ts, received_at=ts)]),
                           msg=SimpleNamespace(received_at=ts))


def test_finished_rounds_are_kept_and_read_back_after_a_restart(tmp_path: Path) -> None:
    archive = RoundArchive(tmp_path / "patrol_rounds.db", PLAN)
    patrol = PatrolConsumer(PatrolTracker(PLAN, tz=SH, site_id="hv"), site_id="hv", publisher=None,
                            alerts=lambda _a: None, points=lambda _p: None, archive=archive)
    patrol.tick(at(19, 50))
    patrol.handle([tap("cp-gate-north", "G0017", at(20, 1))])  # type: ignore[list-item]
    patrol.handle([tap("cp-b1-lobby", "G0017", at(20, 7))])  # type: ignore[list-item]
    patrol.tick(at(22, 20))  # night-north@20:00 ended 20:46, plant-check@21:30 ended 22:05
    archive.close()

    again = RoundArchive(tmp_path / "patrol_rounds.db", PLAN)  # a new process on the same file
    rounds = again.between(NOV, DEC)
    assert [(r.route, r.status, r.guard) for r in rounds] == [
        ("night-north", "incomplete", "G017"), ("plant-check", "incomplete", "")]
    figures = patrol_figures(rounds)
    # night-north: gate-north (north) and b1-lobby (b1) tapped, b1-roof (b1) and garage-b1 (garage)
    # missed: 2 / 4. plant-check: pump-room (plant) and gate-south (south) missed: 0 / 2. All: 2 / 6.
    assert (figures["expected"], figures["visited"], figures["coverage"]) == (6, 2, pytest.approx(1 / 3))
    assert [(r["key"], r["visited"], r["expected"]) for r in figures["by_route"]] == [
        ("night-north", 2, 4), ("plant-check", 0, 2)]
    assert [(r["key"], r["visited"], r["expected"]) for r in figures["by_guard"]] == [("", 0, 2), ("G017", 2, 4)]
    assert [(r["key"], r["visited"], r["expected"]) for r in figures["by_zone"]] == [
        ("b1", 1, 2), ("garage", 0, 1), ("north", 1, 1), ("plant", 0, 1), ("south", 0, 1)]
    # 13 months on, keeping a new round drops these.
    later = PatrolTracker(PLAN, tz=SH, site_id="hv")
    later.tick(at(19, 50) + RETENTION + timedelta(days=1))
    ended = later.tick(at(22, 20) + RETENTION + timedelta(days=1))
    finished = [c.round for c in ended if c.kind == "round_incomplete"]
    again.keep(finished[0], at(22, 20) + RETENTION + timedelta(days=1))
    assert again.between(NOV, DEC) == []
    again.close()


SITE = """\
site: {id: hv, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}
patrol: patrol.yaml
timeseries: {embedded: false}
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[FakeSite]:
    (tmp_path / "site.yaml").write_text(SITE)
    shutil.copy(DATA / "patrol.yaml", tmp_path / "patrol.yaml")
    s = FakeSite(tmp_path, at(19, 50))
    yield s
    s.stop()


def test_monthly_report_over_http_as_json_and_csv(site: FakeSite) -> None:
    site.at(at(19, 50))
    site.at(at(22, 20))  # two rounds ended with nobody tapping: 0 of 4 + 2 checkpoints
    site.features["tickets"].create(Request(source="complaint", channel="phone", title="噪音 Noise", zone="b1",
                                            reporter_name="王女士"), actor="desk", now=at(21))
    api = TestClient(create_app(site.gw))  # no lifespan: the test drives the gateway by hand
    answer = api.get("/api/reports/monthly", params={"month": "2026-11"})
    assert answer.status_code == 200
    r = answer.json()
    assert {"month", "tickets", "timeliness", "revisit_rate", "satisfaction", "rework_rate",
            "patrol_coverage"} <= r.keys()
    assert r["month"] == "2026-11" and set(r["timeliness"]) == {"respond", "arrive", "resolve", "revisit"}
    assert r["registered"]["by_source"]["complaint"] == 1 and r["tickets"] == r["registered"]["total"]
    assert (r["patrol"]["rounds"], r["patrol"]["expected"], r["patrol_coverage"]) == (2, 6, 0.0)
    assert [c["reporter"] for c in r["complaints"]] == ["王女士"]
    assert api.get("/api/reports/monthly").json()["month"] == "2026-11"  # the site clock's month

    csv = api.get("/api/reports/monthly", params={"month": "2026-11", "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese right
    text = csv.content.decode("utf-8-sig")
    assert text.startswith("月报 Monthly report 2026-11 hv\r\n") and "王女士" in text
    assert "patrol_coverage,0\r\n" in text

    bad = api.get("/api/reports/monthly", params={"month": "2026-13"})
    assert bad.status_code == 422 and "months run from 01 to 12" in bad.json()["detail"]
    bad = api.get("/api/reports/monthly", params={"month": "2026-11", "format": "xlsx"})
    assert bad.status_code == 422 and "format=json or format=csv" in bad.json()["detail"]
