"""Clocks: pure code takes a clock so tests can drive time by hand.

`SiteClock` is the shared accelerated site timeline: a gateway (`sitegate run`), a simulator
(`sitegate simulate`) and a recorder (`sitegate record`) started as separate processes with the same
`--start`, `--speed` and `--real-start` compute the same site time for the same wall-clock instant,
so a night at 400x through a real broker is judged on one timeline by all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time.")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        self._now = when


class SiteClock:
    """Site time = start + (wall - real_start) * speed, held at `start` before `real_start` and at
    `until` (if given) after it.

    It reads the wall clock (time.time), not the monotonic one: only the wall clock is shared by
    separate processes, and they must agree on the site time of one instant. Holding at `start`
    lets a process started early wait at the beginning of the night instead of living a stretch of
    it the others never see; holding at `until` ends the night for everyone at the same site instant.
    """

    def __init__(self, start: datetime, speed: float = 1.0, *, real_start: float | None = None,
                 until: datetime | None = None, wall: Callable[[], float] = time.time) -> None:
        if start.tzinfo is None:
            raise ValueError(f"The site clock needs a timezone-aware start time, e.g. "
                             f"{start.replace(microsecond=0).isoformat()}+08:00; got {start.isoformat()}.")
        if not speed > 0:
            raise ValueError(f"Speed must be above 0 (1 is real time, 60 makes an hour pass in a minute), "
                             f"got {speed}.")
        if until is not None:
            if until.tzinfo is None:
                raise ValueError(f"The site clock needs a timezone-aware end time; got {until.isoformat()}.")
            if until < start:
                raise ValueError(f"The end {until.isoformat()} is before the start {start.isoformat()}.")
        self.start, self.speed, self.until, self._wall = start, speed, until, wall
        self.real_start = wall() if real_start is None else real_start

    def now(self) -> datetime:
        elapsed = max(0.0, self._wall() - self.real_start)
        site = self.start + timedelta(seconds=elapsed * self.speed)
        return site if self.until is None or site < self.until else self.until

    def time(self) -> float:
        """Site time as Unix seconds (a drop-in for time.time())."""
        return self.now().timestamp()

    def wall_at(self, site: datetime) -> float:
        """The wall-clock instant (Unix seconds) at which the site clock shows `site`."""
        return self.real_start + (site - self.start).total_seconds() / self.speed

    def real_seconds(self, site: timedelta) -> float:
        """How many real seconds `site` of site time takes."""
        return site.total_seconds() / self.speed


def site_clock(start: datetime | str | None = None, speed: float = 1.0, real_start: float | None = None,
               until: datetime | str | None = None) -> SiteClock:
    """A SiteClock from command-line options, with one-sentence errors naming the option.

    `start` defaults to the wall-clock time of the anchor (`real_start`, by default now), so
    `--speed 60` alone runs the site clock 60 times faster from the present."""
    begin = _aware("--start", start)
    end = _aware("--until", until)
    if not speed > 0:
        raise ValueError(f"--speed must be above 0 (1 is real time, 60 makes an hour pass in a minute); got {speed}.")
    if real_start is not None and not real_start > 0:
        raise ValueError(f"--real-start is a Unix time in seconds, like {int(time.time())}; got {real_start}.")
    anchor = time.time() if real_start is None else real_start
    if begin is None:
        begin = datetime.fromtimestamp(anchor, UTC)
    if end is not None and end < begin:
        raise ValueError(f"--until {end.isoformat()} is before --start {begin.isoformat()}.")
    return SiteClock(begin, speed, real_start=anchor, until=end)


def _aware(option: str, value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{option} {value!r} is not an ISO 8601 time like 2026-11-18T19:00:00+08:00.") from None
    if when is not None and when.tzinfo is None:
        raise ValueError(f"{option} {when.isoformat()} has no UTC offset; the processes of one timeline may "
                         f"run in different time zones, so write it like {when.isoformat()}+08:00.")
    return when


def aware_or_none(value: object) -> datetime | None:
    """An ISO 8601 time with its offset from JSON (a ticket's deadline, an event's time), or None for
    anything else: missing, not text, not a time, or without an offset (which instant would it be?)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
