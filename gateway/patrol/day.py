"""The patrol day: the operational night, not the calendar day.

Night rounds run 20:00 ... 04:00, across midnight, so the patrol day starts at `day_starts` (the
patrol file's key, noon by default) and runs to the same time the next day. Patrol day 2026-11-23
is 2026-11-23 12:00 up to 2026-11-24 12:00 site time: the rounds of 20:00 and of 02:00 after it are
one night, one page, one report. `day_starts: "00:00"` gives calendar days back.

Pure: times in, dates out. The tracker keeps rounds by calendar day; `rounds_of_day` joins the two
calendar days a patrol day touches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from pydantic_core import PydanticCustomError

DEFAULT_DAY_STARTS = time(12, 0)


def patrol_day(ts: datetime, tz: tzinfo, day_starts: time = DEFAULT_DAY_STARTS) -> date:
    """The patrol day `ts` belongs to: its site-local date, or the day before when it is earlier than
    `day_starts` (02:00 on the 24th belongs to the night of the 23rd)."""
    local = ts.astimezone(tz)
    return local.date() if local.time() >= day_starts else local.date() - timedelta(days=1)


def day_bounds(day: date, tz: tzinfo, day_starts: time = DEFAULT_DAY_STARTS) -> tuple[datetime, datetime]:
    """When patrol day `day` starts and ends (end excluded), site-local."""
    start = datetime.combine(day, day_starts, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), day_starts, tzinfo=tz)


def rounds_of_day(rounds_for: Callable[[date], Sequence[Any]], day: date, tz: tzinfo,
                  day_starts: time = DEFAULT_DAY_STARTS) -> list[Any]:
    """The rounds of patrol day `day` from a source that lists them by calendar day (their
    `scheduled_start`, ISO with offset), in start order."""
    days = [day] if day_starts == time(0) else [day, day + timedelta(days=1)]
    found = [r for d in days for r in rounds_for(d)
             if patrol_day(datetime.fromisoformat(r.scheduled_start), tz, day_starts) == day]
    return sorted(found, key=lambda r: (datetime.fromisoformat(r.scheduled_start), r.route))


def parse_day_starts(value: Any) -> time:
    """`"12:00"` (or `"06:30"`) as a time of day. Unquoted 12:00 reaches us from YAML 1.1 as the
    base-60 number 720: that is read as the same hours and minutes."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(*divmod(value, 60))
    if isinstance(value, str):
        hours, sep, minutes = value.strip().partition(":")
        if sep and hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60:
            return time(int(hours), int(minutes))
    raise PydanticCustomError("day_starts", "{value} is not a time of day; write it like \"12:00\" (the patrol "
                                            "day runs from then to the same time the next day)",
                              {"value": repr(value)})
