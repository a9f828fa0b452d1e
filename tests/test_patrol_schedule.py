"""Round start times: cron in the site zone, exact across midnight and daylight-saving changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.patrol.schedule import cron_problem, next_start, starts_between

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def iso(values: list[datetime]) -> list[str]:
    return [v.isoformat() for v in values]


def gaps_s(values: list[datetime]) -> list[float]:
    # In UTC: Python subtracts two datetimes of the same zone by wall time, ignoring DST.
    utc = [v.astimezone(UTC) for v in values]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(utc)]


def test_night_schedule_in_shanghai_crosses_midnight() -> None:
    starts = starts_between("0 20,22,0,2,4 * * *", SHANGHAI, datetime(2026, 11, 23, 12, tzinfo=SHANGHAI),
                            datetime(2026, 11, 24, 12, tzinfo=SHANGHAI))
    assert iso(starts) == ["2026-11-23T20:00:00+08:00", "2026-11-23T22:00:00+08:00",
                           "2026-11-24T00:00:00+08:00", "2026-11-24T02:00:00+08:00",
                           "2026-11-24T04:00:00+08:00"]


def test_interval_is_open_at_the_start_and_closed_at_the_end() -> None:
    at_20 = datetime(2026, 11, 23, 20, tzinfo=SHANGHAI)
    assert starts_between("0 20 * * *", SHANGHAI, at_20, at_20) == []
    assert iso(starts_between("0 20 * * *", SHANGHAI, at_20.replace(hour=19), at_20)) == [at_20.isoformat()]
    assert starts_between("0 20 * * *", SHANGHAI, at_20, at_20.replace(hour=23)) == []


def test_instants_given_in_another_zone_select_the_same_starts() -> None:
    utc = starts_between("0 20 * * *", SHANGHAI, datetime(2026, 11, 23, 0, tzinfo=UTC),
                         datetime(2026, 11, 23, 23, tzinfo=UTC))
    assert iso(utc) == ["2026-11-23T20:00:00+08:00"]


def test_spring_forward_moves_a_start_in_the_skipped_hour_past_the_change() -> None:
    # Berlin, 29 March 2026: 02:00 CET -> 03:00 CEST. 02:15 does not exist on the wall clock.
    starts = starts_between("15 1,2,3 * * *", BERLIN, datetime(2026, 3, 29, 0, tzinfo=BERLIN),
                            datetime(2026, 3, 29, 5, tzinfo=BERLIN))
    assert iso(starts) == ["2026-03-29T01:15:00+01:00", "2026-03-29T03:15:00+02:00"]
    # 02:15 landed on 03:15 CEST, the same instant as the 03:15 start: one round, not two.
    every_half = starts_between("*/30 * * * *", BERLIN, datetime(2026, 3, 29, 1, tzinfo=BERLIN),
                                datetime(2026, 3, 29, 4, tzinfo=BERLIN))
    assert iso(every_half) == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00",
                               "2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00"]
    assert set(gaps_s(every_half)) == {1800.0}


def test_fall_back_runs_a_repeated_wall_time_once_at_its_first_occurrence() -> None:
    # Berlin, 25 October 2026: 03:00 CEST -> 02:00 CET, so 02:30 happens twice.
    starts = starts_between("30 1,2,3 * * *", BERLIN, datetime(2026, 10, 25, 0, tzinfo=BERLIN),
                            datetime(2026, 10, 25, 6, tzinfo=BERLIN))
    assert iso(starts) == ["2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00",
                           "2026-10-25T03:30:00+01:00"]
    assert gaps_s(starts) == [3600.0, 7200.0]


def test_fall_back_interval_is_compared_by_instant_not_wall_time() -> None:
    first_0230 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)   # 02:30 CEST
    second_0230 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, same wall time
    assert iso(starts_between("30 2 * * *", BERLIN, first_0230 - (second_0230 - first_0230),
                              second_0230)) == ["2026-10-25T02:30:00+02:00"]
    assert starts_between("30 2 * * *", BERLIN, first_0230, second_0230) == []


def test_next_start_finds_tomorrow_and_sparse_schedules() -> None:
    after = datetime(2026, 11, 23, 20, tzinfo=SHANGHAI)
    assert next_start("0 20 * * *", SHANGHAI, after).isoformat() == "2026-11-24T20:00:00+08:00"
    assert next_start("0 9 1 1 *", SHANGHAI, after).isoformat() == "2027-01-01T09:00:00+08:00"


def test_cron_problems_are_sentences_and_valid_schedules_pass() -> None:
    assert cron_problem("0 20,22,0,2,4 * * *") is None
    assert cron_problem("*/15 20-23,0-5 * * 1-5") is None
    assert "has 2 fields" in (cron_problem("every night") or "")
    assert "not a valid cron expression" in (cron_problem("0 24 * * *") or "")
