"""Which planned work falls due when, pure: schedules x assets -> occurrences with a stable key.

An occurrence opens at `open_at` (site time) of its due day minus the schedule's lead, and is due by
the end of its due day. Its key (schedule, target, due date) is the ticket's dedup key, so however
often the same window is scanned (a restart, a replay) it is one ticket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from gateway.core.model import DeviceInfo
from gateway.maintenance.assets import AssetDates
from gateway.maintenance.config import Schedule

SITE = "site"
END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True, slots=True)
class Target:
    """What one ticket of a schedule covers: an asset, a zone's assets, or the whole site."""

    id: str  # device id, "zone:<zone>" or "site"
    device_id: str = ""
    zone: str = ""
    place: str = ""
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    schedule: Schedule
    target: Target
    due: date
    opens_at: datetime
    resolve_due: datetime

    @property
    def key(self) -> str:
        return occurrence_key(self.schedule.id, self.target.id, self.due)


def occurrence_key(schedule: str, target: str, due: date) -> str:
    return f"planned:{schedule}:{target}:{due.isoformat()}"


def targets(schedule: Schedule, inventory: Mapping[str, DeviceInfo]) -> list[Target]:
    covered = [d for d in inventory.values()
               if (d.kind in schedule.kinds or d.id in schedule.devices)
               and (not schedule.zones or d.zone in schedule.zones)]
    if schedule.per == "site":
        return [Target(SITE, place=schedule.place)]
    if schedule.per == "zone":
        zones = sorted({d.zone for d in covered})
        return [Target(f"zone:{z}", zone=z, place=schedule.place or z) for z in zones]
    return [Target(d.id, device_id=d.id, zone=d.zone, place=d.location or schedule.place, owner=d.owner)
            for d in sorted(covered, key=lambda d: d.id)]


class Planner:
    """Occurrences of the site's schedules, with the asset register's dates applied."""

    def __init__(self, schedules: Sequence[Schedule], inventory: Mapping[str, DeviceInfo],
                 dates: Mapping[str, AssetDates], *, tz: tzinfo, open_at: time) -> None:
        self.tz, self.open_at, self.dates = tz, open_at, dates
        self.plans = [(s, targets(s, inventory)) for s in schedules]
        self.plans = [(s, t) for s, t in self.plans if t]
        # Cached (dateutil keeps the dates it made): a rule is walked from its anchor, years of dates
        # for a daily one, and each opening asks twice (occurrences, then next_opening); with the
        # cache only dates not made yet cost their arithmetic.
        self._rules = {s.id: s.rule().replace(cache=True) for s, _ in self.plans}
        # `next_due` of an asset belongs to the first non-daily per-asset schedule that covers it.
        self._next_due_of: dict[str, str] = {}
        for s, found in self.plans:
            if s.per == "asset" and s.every != "daily":
                for t in found:
                    self._next_due_of.setdefault(t.id, s.id)

    def opens_at(self, schedule: Schedule, due: date) -> datetime:
        return datetime.combine(due, self.open_at, self.tz) - schedule.lead

    def resolve_due(self, due: date) -> datetime:
        return datetime.combine(due, END_OF_DAY, self.tz)

    def due_dates(self, schedule: Schedule, first: date, last: date) -> list[date]:
        """The schedule's due dates from `first` to `last`, both included."""
        rule = self._rules.get(schedule.id) or schedule.rule()
        found = rule.between(datetime.combine(first, time()), datetime.combine(last, time()), inc=True)
        return [d.date() for d in found]

    def _dates_for(self, schedule: Schedule, target: Target, first: date, last: date,
                   days: list[date]) -> list[date]:
        """`days`: the schedule's due dates from `first` to `last` (due_dates), the same for every target."""
        extra = self.dates.get(target.id)
        if extra is None:
            return days
        if extra.next_due and self._next_due_of.get(target.id) == schedule.id and first <= extra.next_due <= last:
            days = sorted({*days, extra.next_due})
        if extra.last_inspection:
            days = [d for d in days if d > extra.last_inspection]
        return days

    def occurrences(self, since: datetime, now: datetime) -> list[Occurrence]:
        """Every occurrence already open as of `now` (opens at or before it) that is not yet past the
        end of its due day as of `since` (the last scan): the ones a scan at `now` must make sure of."""
        out: list[Occurrence] = []
        for schedule, found in self.plans:
            first = since.astimezone(self.tz).date()
            last = (now.astimezone(self.tz) + schedule.lead).date()
            # The rule's dates once per schedule: a rule is walked from its anchor (a daily one from
            # 2001 is thousands of dates), too slow to repeat for each of its assets.
            days = self.due_dates(schedule, first, last)
            for target in found:
                for due in self._dates_for(schedule, target, first, last, days):
                    opens = self.opens_at(schedule, due)
                    end = self.resolve_due(due)
                    if opens <= now and end >= since:
                        out.append(Occurrence(schedule, target, due, opens, end))
        return sorted(out, key=lambda o: (o.opens_at, o.key))

    def next_opening(self, after: datetime, horizon: timedelta = timedelta(days=400)) -> datetime | None:
        """The first moment after `after` at which an occurrence opens (None: none within `horizon`)."""
        best: datetime | None = None
        for schedule, _targets in self.plans:
            start = (after.astimezone(self.tz) + schedule.lead).date()
            for due in self.due_dates(schedule, start, start + horizon):
                opens = self.opens_at(schedule, due)
                if opens > after:
                    best = opens if best is None or opens < best else best
                    break
        for asset, schedule_id in self._next_due_of.items():
            extra = self.dates.get(asset)
            schedule = next(s for s, _ in self.plans if s.id == schedule_id)
            if extra is not None and extra.next_due is not None:
                opens = self.opens_at(schedule, extra.next_due)
                if opens > after and (best is None or opens < best):
                    best = opens
        return best
