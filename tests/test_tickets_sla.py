from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.tickets.policy import EscalationPolicy, SlaPolicy, WorkCalendar
from gateway.tickets.sla import Sla, is_workday, level_at, next_escalation, revisit_due, sla_for

TZ = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)


@pytest.mark.parametrize(("severity", "respond", "arrive", "resolve"), [
    ("critical", 1 * H, 1 * H, 2 * H),  # an emergency: on site within 1 h, handled within 2 h
    ("major", 2 * H, None, 72 * H),
    ("minor", 24 * H, None, 48 * H),
    ("warning", 24 * H, None, 72 * H),
])
def test_defaults_follow_the_property_service_standards(severity: str, respond: timedelta,
                                                          arrive: timedelta | None, resolve: timedelta) -> None:
    assert sla_for(SlaPolicy(), rule="any", zone="any", severity=severity) == Sla(respond, resolve, arrive)


def test_requests_from_people_and_the_facility_table() -> None:
    policy = SlaPolicy()
    # A complaint: answered within 24 h, handled within 48 h of registration, whatever its category.
    assert sla_for(policy, rule="request.complaint", zone="z", severity="minor", source="complaint",
                   category="lighting") == Sla(24 * H, 48 * H, None, False)
    # An ordinary repair: answered within 2 h; completion from the facility table, counted from acceptance.
    assert sla_for(policy, rule="request.repair", zone="z", severity="major", source="repair",
                   category="water") == Sla(2 * H, 8 * H, None, True)
    # An emergency leak: on site within 1 h and handled within 2 h of the call, not of acceptance.
    assert sla_for(policy, rule="request.repair", zone="z", severity="major", source="repair",
                   category="water", emergency=True) == Sla(1 * H, 2 * H, 1 * H, False)
    site = SlaPolicy.model_validate({"categories": {"water": {"resolve": "6h"}, "lift": {"resolve": "2h"}},
                                     "sources": {"complaint": {"resolve": "36h"}}})
    assert sla_for(site, rule="r", zone="z", severity="major", source="repair", category="water").resolve == 6 * H
    assert sla_for(site, rule="r", zone="z", severity="minor", source="complaint").resolve == 36 * H


def test_the_chinese_calendar_with_its_make_up_working_days() -> None:
    cn = WorkCalendar()
    # National Day 2026: 1-7 October off; Sunday 20 September and Saturday 10 October are worked (调休).
    assert not any(is_workday(date(2026, 10, d), cn) for d in range(1, 8))
    assert is_workday(date(2026, 9, 20), cn) and is_workday(date(2026, 10, 10), cn)
    assert is_workday(date(2026, 10, 9), cn) and not is_workday(date(2026, 10, 11), cn)
    # The site's own lists win over the country's.
    site = WorkCalendar(holidays=[date(2026, 10, 9)], extra_workdays=[date(2026, 10, 11)])
    assert not is_workday(date(2026, 10, 9), site) and is_workday(date(2026, 10, 11), site)
    # A repair on 30 September (Wed) is revisited by the end of Thursday 8 October, the next working day.
    repair = datetime(2026, 9, 30, 16, 0, tzinfo=TZ)
    assert revisit_due(repair, working_days=1, calendar=cn, tz=TZ) == datetime(2026, 10, 8, 18, 0, tzinfo=TZ)
    # Without the country's calendar, 1 October (a Thursday) would be a working day.
    assert revisit_due(repair, working_days=1, calendar=WorkCalendar(country=None), tz=TZ).date() == date(2026, 10, 1)


def test_an_unknown_country_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="XX"):
        WorkCalendar(country="XX")


def test_rule_beats_zone_beats_severity_field_by_field() -> None:
    policy = SlaPolicy.model_validate({
        "severities": {"minor": {"respond": "12h"}},
        "zones": {"pump-house": {"minor": {"respond": "6h", "resolve": "24h"}}},
        "rules": {"fire.extinguisher_low": {"respond": "4h"}, "fire.*": {"resolve": "36h"}},
    })
    assert sla_for(policy, rule="x", zone="north", severity="minor") == Sla(12 * H, 48 * H)
    assert sla_for(policy, rule="x", zone="pump-house", severity="minor") == Sla(6 * H, 24 * H)
    # The exact rule id wins over the fire.* pattern; resolve still comes from the zone.
    exact = sla_for(policy, rule="fire.extinguisher_low", zone="pump-house", severity="minor")
    assert exact == Sla(4 * H, 24 * H)
    assert sla_for(policy, rule="fire.door_open", zone="north", severity="minor") == Sla(12 * H, 36 * H)


def test_explicit_null_removes_a_deadline() -> None:
    policy = SlaPolicy.model_validate({"severities": {"warning": {"resolve": None}}})
    assert sla_for(policy, rule="r", zone="z", severity="warning") == Sla(24 * H, None)


def test_escalation_levels_at_multiples_of_the_window() -> None:
    opened = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)
    due = opened + H
    esc = EscalationPolicy()
    assert level_at(opened, due, opened + 59 * timedelta(minutes=1), esc) == 0
    assert level_at(opened, due, opened + H, esc) == 1
    assert level_at(opened, due, opened + 2 * H - timedelta(seconds=1), esc) == 1
    assert level_at(opened, due, opened + 2 * H, esc) == 2
    assert level_at(opened, due, opened + 10 * H, esc) == 3
    assert next_escalation(opened, due, 0, esc) == opened + H
    assert next_escalation(opened, due, 2, esc) == opened + 3 * H
    assert next_escalation(opened, due, 3, esc) is None
    assert next_escalation(opened, None, 0, esc) is None


def test_custom_multiples() -> None:
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    esc = EscalationPolicy(multiples=[1, 1.5])
    assert level_at(opened, opened + 2 * H, opened + 3 * H, esc) == 2
    assert next_escalation(opened, opened + 2 * H, 1, esc) == opened + 3 * H


def test_revisit_of_a_tuesday_repair_is_due_wednesday_end_of_day() -> None:
    tuesday = datetime(2026, 11, 24, 10, 30, tzinfo=TZ)
    assert revisit_due(tuesday, working_days=1, calendar=WorkCalendar(), tz=TZ) == \
        datetime(2026, 11, 25, 18, 0, tzinfo=TZ)


def test_revisit_of_a_friday_repair_skips_the_weekend() -> None:
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=TZ)
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=TZ)
    monday_eod = datetime(2026, 11, 30, 18, 0, tzinfo=TZ)
    assert revisit_due(friday, working_days=1, calendar=WorkCalendar(), tz=TZ) == monday_eod
    assert revisit_due(saturday, working_days=1, calendar=WorkCalendar(), tz=TZ) == monday_eod


def test_holidays_and_make_up_working_days() -> None:
    # National day week: Oct 1-7 off, Saturday Oct 10 worked instead (调休).
    calendar = WorkCalendar(holidays=[date(2026, 10, d) for d in range(1, 8)],
                            extra_workdays=[date(2026, 10, 10)], end_of_day="17:30")
    sep30 = datetime(2026, 9, 30, 15, 0, tzinfo=TZ)
    assert revisit_due(sep30, working_days=1, calendar=calendar, tz=TZ) == \
        datetime(2026, 10, 8, 17, 30, tzinfo=TZ)
    oct9 = datetime(2026, 10, 9, 15, 0, tzinfo=TZ)
    assert revisit_due(oct9, working_days=1, calendar=calendar, tz=TZ) == \
        datetime(2026, 10, 10, 17, 30, tzinfo=TZ)
    assert not is_workday(date(2026, 10, 5), calendar) and is_workday(date(2026, 10, 10), calendar)


def test_repair_time_is_read_in_site_time() -> None:
    # 17:00 UTC Friday is 01:00 Saturday in Shanghai: still due Monday, not Friday's next day.
    utc_friday_evening = datetime(2026, 11, 27, 17, 0, tzinfo=ZoneInfo("UTC"))
    assert revisit_due(utc_friday_evening, working_days=1, calendar=WorkCalendar(), tz=TZ) == \
        datetime(2026, 11, 30, 18, 0, tzinfo=TZ)


def test_zero_working_days_means_the_same_working_day() -> None:
    tuesday = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
    sunday = datetime(2026, 11, 29, 10, 0, tzinfo=TZ)
    assert revisit_due(tuesday, working_days=0, calendar=WorkCalendar(), tz=TZ).date() == date(2026, 11, 24)
    assert revisit_due(sunday, working_days=0, calendar=WorkCalendar(), tz=TZ).date() == date(2026, 11, 30)
