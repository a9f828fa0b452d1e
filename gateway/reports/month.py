"""A report month in site time: `2026-11` -> [Nov 1 00:00, Dec 1 00:00) in the site's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class BadMonth(ValueError):
    """The month text is not YYYY-MM with a month 01..12."""


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        found = _MONTH.fullmatch(text.strip())
        if found is None:
            raise BadMonth(f"month {text!r} is not a month; write it as YYYY-MM, e.g. 2026-11.")
        year, month = int(found[1]), int(found[2])
        if not 1 <= month <= 12:
            raise BadMonth(f"month {text!r} has month {month:02d}; months run from 01 to 12.")
        if year < 1970:
            raise BadMonth(f"month {text!r} is before 1970; the gateway keeps nothing that old.")
        return cls(year, month)

    @classmethod
    def of(cls, when: datetime, tz: tzinfo) -> Month:
        local = when.astimezone(tz)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def start(self, tz: tzinfo) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=tz)

    def end(self, tz: tzinfo) -> datetime:
        """The first instant of the next month (exclusive end)."""
        nxt = Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)
        return nxt.start(tz)
