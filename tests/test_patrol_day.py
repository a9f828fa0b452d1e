"""The patrol day (gateway/patrol/day.py): noon to noon by default, so one night's rounds are one day;
the rounds API answers by it. Times are Shanghai's (UTC+8, no daylight saving)."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.core.clock import FakeClock
from gateway.core.errors import ConfigError
from gateway.patrol.api import patrol_router
from gateway.patrol.day import day_bounds, parse_day_starts, patrol_day
from gateway.patrol.model import load_plan
from gateway.patrol.tracker import PatrolTracker

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def test_before_noon_belongs_to_the_night_before_and_noon_starts_a_new_day() -> None:
    assert patrol_day(at(24, 11, 59), SH) == date(2026, 11, 23)
    assert patrol_day(at(24, 12, 0), SH) == date(2026, 11, 24)
    assert patrol_day(at(23, 20), SH) == patrol_day(at(24, 2), SH) == date(2026, 11, 23)  # one night
    # The site's zone decides, not UTC's: 03:59 UTC on the 24th is 11:59 in Shanghai.
    assert patrol_day(datetime.fromisoformat("2026-11-24T03:59:00+00:00"), SH) == date(2026, 11, 23)


def test_a_site_can_start_its_day_elsewhere() -> None:
    assert patrol_day(at(24, 5, 59), SH, time(6)) == date(2026, 11, 23)
    assert patrol_day(at(24, 6, 0), SH, time(6)) == date(2026, 11, 24)
    assert patrol_day(at(24, 0, 30), SH, time(0)) == date(2026, 11, 24)  # "00:00": calendar days


def test_the_bounds_of_a_patrol_day() -> None:
    assert day_bounds(date(2026, 11, 23), SH) == (at(23, 12), at(24, 12))


@pytest.mark.parametrize(("written", "meant"), [("12:00", time(12)), ("06:30", time(6, 30)), (720, time(12)),
                                                ("0:00", time(0))])
def test_day_starts_is_read_as_a_time_of_day(written: object, meant: time) -> None:
    assert parse_day_starts(written) == meant  # 720: YAML 1.1 reads an unquoted 12:00 as base-60


def test_a_bad_day_starts_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "patrol.yaml"
    path.write_text("checkpoints: []\nday_starts: \"25:00\"\n")
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    assert ":2:" in str(err.value) and 'write it like "12:00"' in str(err.value)


PATROL = """\
checkpoints:
  - {id: cp-gate, name: 北门 North gate, reader: cp-gate}
routes:
  - id: night
    schedule: "0 20,2 * * *"
    limit: 30m
    checkpoints: [{id: cp-gate, at: 0m}]
  - id: noon
    schedule: "0 11,12 * * *"
    limit: 30m
    checkpoints: [{id: cp-gate, at: 0m}]
"""


def client(tmp_path: Path, extra: str = "") -> TestClient:
    path = tmp_path / "patrol.yaml"
    path.write_text(PATROL + extra)
    plan = load_plan(path)
    tracker = PatrolTracker(plan, tz=SH, site_id="t")
    tracker.tick(at(23, 10))
    app = FastAPI()
    app.include_router(patrol_router(tracker.rounds, plan=plan, site_id="t", tz=SH, clock=FakeClock(at(24, 1))))
    return TestClient(app)


def starts(answer: list[dict[str, object]]) -> list[str]:
    return [str(r["scheduled_start"])[5:16] for r in answer]


def test_rounds_of_a_date_are_the_night_from_noon_to_noon(tmp_path: Path) -> None:
    api = client(tmp_path)
    # 12:00 on the 23rd up to 11:00 on the 24th: the 11:00 of the 23rd was the night before's.
    assert starts(api.get("/api/patrol/rounds", params={"day": "2026-11-23"}).json()) == [
        "11-23T12:00", "11-23T20:00", "11-24T02:00", "11-24T11:00"]
    assert {r["patrol_day"] for r in api.get("/api/patrol/rounds", params={"day": "2026-11-23"}).json()} == {
        "2026-11-23"}
    # At 01:00 on the 24th (the clock's) the patrol day is still the 23rd's night.
    assert api.get("/api/patrol/rounds").json() == api.get("/api/patrol/rounds", params={"day": "2026-11-23"}).json()
    # The contract's `date` keeps its meaning: the calendar day, 00:00 to 24:00.
    assert starts(api.get("/api/patrol/rounds", params={"date": "2026-11-23"}).json()) == [
        "11-23T11:00", "11-23T12:00", "11-23T20:00"]
    assert api.get("/api/patrol/day").json() == {"date": "2026-11-23", "day_starts": "12:00",
                                                 "from": "2026-11-23T12:00:00+08:00", "to": "2026-11-24T12:00:00+08:00"}


def test_a_patrol_file_with_day_starts_midnight_gets_calendar_days(tmp_path: Path) -> None:
    api = client(tmp_path, 'day_starts: "00:00"\n')
    assert starts(api.get("/api/patrol/rounds", params={"day": "2026-11-23"}).json()) == [
        "11-23T11:00", "11-23T12:00", "11-23T20:00"]
    assert api.get("/api/patrol/day").json()["date"] == "2026-11-24"
