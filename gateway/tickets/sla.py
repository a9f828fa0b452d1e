"""Deadlines, pure: SLA windows from severity with rule and zone overrides, escalation times, and the
working-day calendar behind the revisit deadline. Values in, values out; no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import cast

import holidays

from gateway.core.validation import Severity
from gateway.tickets.policy import WEEKDAYS, EscalationPolicy, SlaPolicy, SlaTimes, Source, WorkCalendar


@dataclass(frozen=True, slots=True)
class Sla:
    respond: timedelta | None
    resolve: timedelta | None
    arrive: timedelta | None = None
    # The resolve window counts from acceptance (接单), as the facility time-limit table does.
    resolve_from_accept: bool = False


H = timedelta(hours=1)
# The property-service standards: emergencies on site within 1 h and handled within 2 h, ordinary
# repairs responded to within 2 h, every request responded to within 24 h.
DEFAULT_SLA: dict[str, Sla] = {
    "critical": Sla(respond=H, arrive=H, resolve=2 * H),
    "major": Sla(respond=2 * H, resolve=72 * H),
    "minor": Sla(respond=24 * H, resolve=48 * H),
    "warning": Sla(respond=24 * H, resolve=72 * H),
}
# The facility time-limit table (completion counted from acceptance); the site file's
# `tickets.sla.categories` changes or extends it.
DEFAULT_CATEGORY_RESOLVE: dict[str, timedelta] = {
    "lift": 4 * H,
    "water": 8 * H,
    "power": 8 * H,
    "lighting": 24 * H,
    "fire": 24 * H,
    "security": 24 * H,
    "plumbing": 24 * H,
    "hvac": 48 * H,
    "device": 48 * H,
}
DEFAULT_SOURCE: dict[str, SlaTimes] = {
    "complaint": SlaTimes(respond=24 * H, resolve=48 * H),
    "repair": SlaTimes(respond=2 * H),
}
DEFAULT_EMERGENCY = SlaTimes(respond=H, arrive=H, resolve=2 * H)


def _rule_override(policy: SlaPolicy, rule: str) -> SlaTimes | None:
    if rule in policy.rules:
        return policy.rules[rule]
    for pattern, times in policy.rules.items():
        if fnmatchcase(rule, pattern):
            return times
    return None


def _category(policy: SlaPolicy, category: str) -> SlaTimes | None:
    if category in policy.categories:
        return policy.categories[category]
    limit = DEFAULT_CATEGORY_RESOLVE.get(category)
    return None if limit is None else SlaTimes(resolve=limit)


def sla_for(policy: SlaPolicy, *, rule: str, zone: str, severity: str, source: str = "sensor",
            category: str = "", emergency: bool = False) -> Sla:
    """Each field from the most specific level that sets it: rule, zone, emergency, source (a
    complaint, a repair request), facility category, then severity."""
    base = DEFAULT_SLA.get(severity, DEFAULT_SLA["warning"])
    emergency = emergency or severity == "critical"
    layers: list[tuple[SlaTimes | None, bool]] = [  # (times, resolve counts from acceptance)
        (policy.severities.get(cast(Severity, severity)), False),
        (_category(policy, category), True),
        (DEFAULT_SOURCE.get(source), False),
        (policy.sources.get(cast(Source, source)), False),
        (DEFAULT_EMERGENCY if emergency else None, False),
        (policy.emergency if emergency else None, False),
        (policy.zones.get(zone, {}).get(cast(Severity, severity)), False),
        (_rule_override(policy, rule), False),
    ]
    respond, arrive, resolve, from_accept = base.respond, base.arrive, base.resolve, False
    for layer, accept_based in layers:  # least specific first, so the most specific is applied last
        if layer is None:
            continue
        if "respond" in layer.model_fields_set:
            respond = layer.respond
        if "arrive" in layer.model_fields_set:
            arrive = layer.arrive
        if "resolve" in layer.model_fields_set:
            resolve, from_accept = layer.resolve, accept_based
    return Sla(respond=respond, resolve=resolve, arrive=arrive, resolve_from_accept=from_accept)


def deadline(opened_at: datetime, window: timedelta | None) -> datetime | None:
    return None if window is None else opened_at + window


def next_escalation(opened_at: datetime, due_at: datetime | None, level: int,
                    policy: EscalationPolicy) -> datetime | None:
    """When the ticket reaches level `level + 1`, or None when there is no deadline or no level left.

    Levels are multiples of the SLA window (opened_at -> due_at), so a 1 h deadline escalates at
    1 h, 2 h, 3 h and a 48 h one at 48 h, 96 h, 144 h with the default multiples.
    """
    if due_at is None or level >= len(policy.multiples):
        return None
    window = due_at - opened_at
    return opened_at + window * policy.multiples[level]


def level_at(opened_at: datetime, due_at: datetime | None, now: datetime, policy: EscalationPolicy) -> int:
    """The escalation level a ticket should have at `now`."""
    if due_at is None:
        return 0
    window = due_at - opened_at
    return sum(1 for m in policy.multiples if now >= opened_at + window * m)


def is_workday(day: date, calendar: WorkCalendar) -> bool:
    """The site's lists first, then the country's public holidays and 调休 days, then the weekdays."""
    if day in calendar.extra_workdays:
        return True
    if day in calendar.holidays:
        return False
    if calendar.country is not None:
        official = _country_days(calendar.country, day.year)
        if day in official.holidays:
            return False
        if day in official.workdays:
            return True
    return WEEKDAYS[day.weekday()] in calendar.workdays


@dataclass(frozen=True, slots=True)
class _Official:
    holidays: frozenset[date]
    workdays: frozenset[date]  # weekend days that are working days (调休)


@lru_cache(maxsize=64)
def _country_days(country: str, year: int) -> _Official:
    found = holidays.country_holidays(country, years=year)
    return _Official(frozenset(found), frozenset(d for d in found.weekend_workdays if d.year == year))


def revisit_due(resolved_at: datetime, *, working_days: int, calendar: WorkCalendar, tz: tzinfo) -> datetime:
    """End of the n-th working day after the day of the repair (site time), n = `working_days`.

    A repair on Tuesday is revisited by Wednesday's end of day; one on Friday (or Saturday) by
    Monday's, unless Monday is a holiday. With n = 0 the revisit is due the same working day (or
    the next one, if the repair was made on a day off).
    """
    day = resolved_at.astimezone(tz).date()
    # Ten years of days bounds the search against a calendar whose only working days lie in the past.
    limit = day + timedelta(days=3660)
    counted = 0
    while counted < working_days or not is_workday(day, calendar):
        day += timedelta(days=1)
        if day > limit:
            raise ValueError("No working day found within ten years; check tickets.calendar.")
        if is_workday(day, calendar):
            counted += 1
    end = datetime.combine(day, calendar.end_of_day)
    return end.replace(tzinfo=tz)
