"""Daylight at the site: sun elevation (astral), outdoor illuminance, and when photocells switch lamps.

Path lamps on a real site switch on a photocell or an astronomical timer a little after sunset;
lux sensors read the sky. Both follow the sun here, so "lamps that fail at dusk" happen at the
site's real dusk. A site file without coordinates gets a plain day from 06:00 to 18:30.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, tzinfo

from astral import Observer, SunDirection
from astral.sun import elevation, time_at_elevation

# Photocells switch when the sky falls below roughly 20-50 lx: the sun about 1 degree below the horizon.
LAMPS_ON_BELOW = -1.0
_NIGHT_LUX = 2.0  # city glow on a moonless night
_HORIZON_LUX = 400.0
_TWILIGHT_END = -8.0  # below this the sky adds nothing over the city glow


class Sky:
    def __init__(self, latitude: float | None, longitude: float | None, tz: tzinfo) -> None:
        self.tz = tz
        self._observer: Observer | None = None
        if latitude is not None and longitude is not None:
            self._observer = Observer(latitude, longitude)

    def elevation(self, when: datetime) -> float:
        """Sun elevation in degrees (a synthetic 06:00-18:30 day without coordinates)."""
        if self._observer is not None:
            return float(elevation(self._observer, when))
        local = when.astimezone(self.tz)
        hours = local.hour + local.minute / 60 + local.second / 3600
        # Zero at 06:00 and 18:30, 50 degrees at the peak in between.
        if 6.0 <= hours <= 18.5:
            return 50.0 * math.sin(math.pi * (hours - 6.0) / 12.5)
        return -20.0

    def outdoor_lux(self, when: datetime) -> float:
        """Illuminance on open ground, without cloud: ~100 klx at noon, a few lx at night."""
        e = self.elevation(when)
        if e >= 0:
            return _HORIZON_LUX + 100_000.0 * math.sin(math.radians(e))
        if e <= _TWILIGHT_END:
            return _NIGHT_LUX
        # Log-linear through twilight, from 400 lx at the horizon to the night glow.
        frac = (e - _TWILIGHT_END) / -_TWILIGHT_END
        low, high = math.log10(_NIGHT_LUX), math.log10(_HORIZON_LUX)
        return float(10 ** (low + frac * (high - low)))

    def dark(self, when: datetime) -> bool:
        """Photocell-switched lamps are on."""
        return self.elevation(when) < LAMPS_ON_BELOW

    def lamps_on_at(self, day: date) -> datetime:
        """When photocell lamps switch on, on the evening of the site-local `day`."""
        if self._observer is not None:
            try:
                return time_at_elevation(self._observer, LAMPS_ON_BELOW, day, SunDirection.SETTING, self.tz)
            except ValueError:  # polar day or night: no dusk; fall back to the synthetic one
                pass
        return datetime.combine(day, time(18, 30), self.tz) + timedelta(minutes=5)
