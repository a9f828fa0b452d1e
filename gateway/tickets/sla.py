"""Deadlines, pure: SLA windows from severity with rule and zone overrides, escalation times, and the
working-day calendar behind the revisit deadline. Values in, values out; no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from fnmatch import fnmatchcase
from typing import cast

from gateway.core.validation import Severity
from gateway.tickets.policy import WEEKDAYS, EscalationPolicy, SlaPolicy, SlaTimes, WorkCalendar


@dataclass(frozen=True, slots=True)
class Sla:
    respond: timedelta | None
    resolve: timedelta | None


# The property-service standards: emergencies on site within 1 h, normal response within 2 h,
# complaints answered in 24 h and handled in 48 h. Warnings get a working week's slack on resolve.
DEFAULT_SLA: dict[str, Sla] = {
    "critical": Sla(respond=timedelta(hours=1), resolve=None),
    "major": Sla(respond=timedelta(hours=2), resolve=None),
    "minor": Sla(respond=timedelta(hours=24), resolve=timedelta(hours=48)),
    "warning": Sla(respond=timedelta(hours=24), resolve=timedelta(hours=72)),
}


def _rule_override(policy: SlaPolicy, rule: str) -> SlaTimes | None:
    if rule in policy.rules:
        return policy.rules[rule]
    for pattern, times in policy.rules.items():
        if fnmatchcase(rule, pattern):
            return times
    return None


def sla_for(policy: SlaPolicy, *, rule: str, zone: str, severity: str) -> Sla:
    """Each field from the most specific level that sets it: rule, then zone, then severity."""
    base = DEFAULT_SLA.get(severity, DEFAULT_SLA["warning"])
    layers = [
        _rule_override(policy, rule),
        policy.zones.get(zone, {}).get(cast(Severity, severity)),
        policy.severities.get(cast(Severity, severity)),
    ]
    respond, resolve = base.respond, base.resolve
    for layer in reversed(layers):  # least specific first, so the most specific is applied last
        if layer is None:
            continue
        if "respond" in layer.model_fields_set:
            respond = layer.respond
        if "resolve" in layer.model_fields_set:
            resolve = layer.resolve
    return Sla(respond=respond, resolve=resolve)


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
    if day in calendar.extra_workdays:
        return True
    if day in calendar.holidays:
        return False
    return WEEKDAYS[day.weekday()] in calendar.workdays


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
