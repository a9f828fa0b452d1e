"""Round start times from a cron expression in the site's time zone, safe across daylight saving.

croniter walks *wall-clock* (naive) times in the site zone; each match is then placed on the
timeline with zoneinfo. That gives cron's usual behaviour at the two daylight-saving changes:

- spring forward: a start inside the skipped hour (02:30 when clocks jump 02:00 -> 03:00) happens
  at the same distance past the change (03:30 local), i.e. it is not lost;
- fall back: a wall time that occurs twice (02:30 when clocks go 03:00 -> 02:00) starts once, at
  its first occurrence (fold=0).

Two matches that land on the same instant start one round. All inputs and outputs are
timezone-aware datetimes; outputs are in the site zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from croniter import croniter

# Wider than any daylight-saving shift, so walking wall-clock time never misses an instant.
_MARGIN = timedelta(hours=3)


def cron_problem(expr: str) -> str | None:
    """Why `expr` is not a usable 5-field cron expression, as a sentence, or None if it is fine."""
    fields = expr.split()
    if len(fields) != 5:
        return (f"{expr!r} has {len(fields)} fields; a schedule needs 5 "
                "(minute hour day-of-month month day-of-week), e.g. \"0 20,22,0,2,4 * * *\"")
    if not croniter.is_valid(expr):
        return f"{expr!r} is not a valid cron expression; check each field's range, e.g. hours 0-23"
    return None


def _place(wall: datetime, tz: tzinfo) -> datetime:
    """A naive wall-clock time in `tz` as an instant (fold=0; a time in a gap moves past it)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def starts_between(expr: str, tz: tzinfo, after: datetime, until: datetime) -> list[datetime]:
    """Every round start S of `expr` with after < S <= until, in order, without repeats."""
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("starts_between needs timezone-aware instants.")
    if until <= after:
        return []
    wall = (after.astimezone(tz) - _MARGIN).replace(tzinfo=None)
    stop = (until.astimezone(tz) + _MARGIN).replace(tzinfo=None)
    # Compare in UTC: Python compares two datetimes of the same zone by wall time, ignoring fold.
    low, high = after.astimezone(UTC), until.astimezone(UTC)
    it = croniter(expr, wall)
    found: set[datetime] = set()
    while True:
        candidate: datetime = it.get_next(datetime)
        if candidate > stop:
            break
        instant = _place(candidate, tz).astimezone(UTC)
        if low < instant <= high:
            found.add(instant)
    return [s.astimezone(tz) for s in sorted(found)]


def next_start(expr: str, tz: tzinfo, after: datetime) -> datetime:
    """The first round start strictly after `after` (looks up to 400 days ahead)."""
    window = timedelta(days=2)
    probe = after
    while probe - after < timedelta(days=400):
        found = starts_between(expr, tz, probe, probe + window)
        if found:
            return found[0]
        probe += window
    raise ValueError(f"schedule {expr!r} has no start within 400 days after {after.isoformat()}.")
