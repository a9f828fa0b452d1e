"""Is it dark at the site? Sun elevation against an angle, computed with astral.

Darkness is defined by the crossing events themselves (the sun sets through the angle, later rises
through it), not by sampling the elevation: then `is_below(t)` and `next_change(t)` can never
disagree at a boundary, which the rules engine relies on to re-evaluate exactly at dusk and dawn.
"""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from astral import Observer, SunDirection
from astral.sun import elevation, time_at_elevation

# Near the poles the sun may not cross the angle for weeks: then look again this often.
POLAR_RECHECK = timedelta(hours=1)
# Two events of the same direction closer than this are one event reported for two dates.
_SAME_EVENT = timedelta(hours=2)


@lru_cache(maxsize=4096)
def _events_on(lat: float, lon: float, angle: float, day: date) -> tuple[tuple[datetime, bool], ...]:
    """Crossings on one UTC date as (time, sun_goes_below)."""
    observer = Observer(latitude=lat, longitude=lon)
    out = []
    for direction, below in ((SunDirection.SETTING, True), (SunDirection.RISING, False)):
        try:
            out.append((time_at_elevation(observer, angle, day, direction, UTC), below))
        except ValueError:  # the sun never reaches the angle that day (polar day or night)
            continue
    return tuple(out)


class SunCalendar:
    """When the sun is below `angle` degrees at one place."""

    def __init__(self, latitude: float, longitude: float, angle: float) -> None:
        self.latitude = latitude
        self.longitude = longitude
        self.angle = angle

    def _events(self, around: datetime) -> list[tuple[datetime, bool]]:
        day = around.astimezone(UTC).date()
        found: list[tuple[datetime, bool]] = []
        for offset in range(-2, 3):
            for when, below in _events_on(self.latitude, self.longitude, self.angle, day + timedelta(offset)):
                if not any(b == below and abs(w - when) < _SAME_EVENT for w, b in found):
                    found.append((when, below))
        found.sort()
        return found

    def is_below(self, when: datetime) -> bool:
        """True while the sun is below the angle (the last crossing at or before `when` was a setting)."""
        events = self._events(when)
        i = bisect.bisect_right([w for w, _ in events], when)
        if i == 0:
            return elevation(Observer(self.latitude, self.longitude), when) < self.angle
        return events[i - 1][1]

    def next_change(self, when: datetime) -> datetime:
        """The first crossing strictly after `when` (or a recheck time when there is none nearby)."""
        for event_time, _ in self._events(when):
            if event_time > when:
                return event_time
        return when + POLAR_RECHECK
