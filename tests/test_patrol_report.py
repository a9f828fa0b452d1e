"""The daily report: figures per route and guard from a tracked night, and its CSV export."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.core.model import Tap
from gateway.patrol.model import load_plan
from gateway.patrol.report import CSV_COLUMNS, DailyReport, daily_report, report_csv
from gateway.patrol.tracker import PatrolTracker

SH = ZoneInfo("Asia/Shanghai")
PLAN = load_plan(Path(__file__).parent / "data" / "patrol.yaml")
DAY = date(2026, 11, 23)


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def tracked_night() -> PatrolTracker:
    """G017 walks north 20:00 (one late), G023 north 22:00 (half) and plant 21:30; nobody the rest."""
    t = PatrolTracker(PLAN, tz=SH, site_id="harbor-view")
    t.tick(at(19, 50))
    taps = [
        ("cp-gate-north", "G0017", at(20, 0)), ("cp-b1-lobby", "G0017", at(20, 12)),
        ("hh-07", "04A1B2C3", at(20, 13)), ("hh-07", "04A1B2C4", at(20, 25)),
        ("hh-09", "003B51C6", at(21, 36)), ("cp-gate-south", "G0017", at(21, 47)),
        ("cp-gate-north", "G0023", at(22, 2)), ("cp-b1-lobby", "G0023", at(22, 8)),
    ]
    for reader, tag, ts in taps:
        t.tick(ts)
        t.on_tap(Tap(device=reader, tag=tag, ts=ts, received_at=ts), ts)
    t.tick(at(0, 10, day=24))
    return t


@pytest.fixture(scope="module")
def report() -> DailyReport:
    return daily_report(tracked_night().rounds(DAY), day=DAY, plan=PLAN, site_id="harbor-view")


def figures(report: DailyReport) -> dict[tuple[str, str], tuple[object, ...]]:
    return {(r.route, r.guard): (r.rounds, r.completed, r.incomplete, r.expected, r.visited, r.on_time,
                                 r.late, r.missed, round(r.coverage, 4), round(r.on_time_rate, 4),
                                 r.mean_delay_s)
            for r in [*report.rows, *report.routes]}


def test_figures_per_route_and_guard_and_per_route(report: DailyReport) -> None:
    assert report.open_rounds == 0
    assert figures(report) == {
        ("night-north", "G017"): (1, 1, 0, 4, 4, 3, 1, 0, 1.0, 0.75, 105.0),
        ("night-north", "G023"): (1, 0, 1, 4, 2, 2, 0, 2, 0.5, 0.5, 0.0),
        ("night-north", "*"): (2, 1, 1, 8, 6, 5, 1, 2, 0.75, 0.625, 70.0),
        ("plant-check", ""): (2, 0, 2, 4, 0, 0, 0, 4, 0.0, 0.0, None),
        ("plant-check", "G023"): (1, 1, 0, 2, 2, 2, 0, 0, 1.0, 1.0, 30.0),
        ("plant-check", "*"): (3, 1, 2, 6, 2, 2, 0, 4, 0.3333, 0.3333, 30.0),
    }
    assert [(r.guard, r.guard_name) for r in report.rows] == [
        ("G017", "王强 Wang Qiang"), ("G023", "李娜 Li Na"), ("", "(no guard)"), ("G023", "李娜 Li Na")]
    assert report.rows[0].route_name == "北区夜巡 North night round"


def test_rounds_still_running_are_counted_apart_not_in_the_figures() -> None:
    t = tracked_night()
    tomorrow = daily_report(t.rounds(date(2026, 11, 24)), day=date(2026, 11, 24), plan=PLAN, site_id="hv")
    assert tomorrow.rows == [] and tomorrow.open_rounds == len(t.rounds(date(2026, 11, 24))) > 0


def test_csv_has_a_header_one_line_per_row_and_exact_numbers(report: DailyReport) -> None:
    text = report_csv(report)
    lines = text.split("\r\n")
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[1] == ("2026-11-23,night-north,北区夜巡 North night round,G017,王强 Wang Qiang,"
                        "1,1,0,4,4,3,1,0,1,0.75,105")
    assert lines[3] == "2026-11-23,plant-check,设备巡检 Plant check,,(no guard),2,0,2,4,0,0,0,4,0,0,"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 6
    assert rows[-1]["guard"] == "*" and rows[-1]["coverage"] == "0.3333"


def test_csv_with_bom_opens_cleanly_in_spreadsheets(report: DailyReport) -> None:
    data = report_csv(report, bom=True).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").startswith("date,route,")


def test_json_form_names_every_column(report: DailyReport) -> None:
    as_dict = report.to_dict()
    assert as_dict["date"] == "2026-11-23" and as_dict["site"] == "harbor-view"
    assert set(as_dict["rows"][0]) == set(CSV_COLUMNS) - {"date"}


def test_a_round_whose_first_checkpoint_was_missed_is_credited_to_the_guard_who_walked_the_rest() -> None:
    t = PatrolTracker(PLAN, tz=SH, site_id="harbor-view")
    t.tick(at(19, 50))
    # G017 walks past the north gate, then taps the lobby 7 min in (the round started 20:01: lobby due
    # 20:07, roof 20:13, garage 20:26), the roof 1 min behind and the garage 2 min ahead.
    for reader, tag, ts in (("cp-b1-lobby", "G0017", at(20, 7)), ("hh-07", "04A1B2C3", at(20, 14)),
                            ("hh-07", "04A1B2C4", at(20, 24))):
        t.tick(ts)
        assert t.on_tap(Tap(device=reader, tag=tag, ts=ts, received_at=ts), ts).result == "ok"
    t.tick(at(21))
    north = [r for r in t.rounds(DAY) if r.route == "night-north" and r.status != "scheduled"]
    daily = daily_report(north, day=DAY, plan=PLAN, site_id="harbor-view")
    assert figures(daily)[("night-north", "G017")] == (1, 0, 1, 4, 3, 3, 0, 1, 0.75, 0.75, -20.0)
