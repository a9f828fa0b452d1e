"""A month's report from the demo site, on a tiny scale: two short nights through the real offline
gateway sharing one ticket store and round archive, the people at work (gateway/app/simulator/
staff.py), then the monthly report (the API's code). The report's counts are checked against the
people's own record of what they did, and the patrol figures against the simulator's walk: never
against the report code's own output.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.app.month import MonthRun, NightWindow, run_month
from gateway.app.simulator.site_model import load_sim_site
from gateway.app.simulator.staff import Habits, desk_requests, next_step
from gateway.app.simulator.truth import round_truths
from gateway.core.paths import demo_site_dir
from gateway.core.site import Site
from gateway.core.siteload import Overrides, load_site
from gateway.reports.month import Month
from gateway.tickets.changes import Request, open_request
from gateway.tickets.policy import TicketPolicy

TZ = ZoneInfo("Asia/Shanghai")
DAYS = [date(2026, 11, 10), date(2026, 11, 11)]  # a Tuesday and a Wednesday
WINDOW = NightWindow(time(19, 30), 6)  # 19:30 to 01:30: two patrol rounds per route per night
# Busier and clumsier people than the defaults, so two nights see failed revisits and faulty items.
HABITS = Habits(complaints_per_day=3, repairs_per_day=4, revisit_failed=0.3, item_fault=0.05)
# A week later every repair of those two days is revisited and every inspection done.
REPORT_AT = datetime(2026, 11, 20, 12, 0, tzinfo=TZ)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(demo_site_dir() / "site.yaml", Overrides())


@pytest.fixture(scope="module")
def run(site: Site, tmp_path_factory: pytest.TempPathFactory) -> MonthRun:
    records: Path = tmp_path_factory.mktemp("month")
    return run_month(site, Month(2026, 11), records, seed=7, days=DAYS, window=WINDOW, habits=HABITS,
                     report_at=REPORT_AT)


def test_the_requests_registered_are_the_desks_and_the_inspectors(run: MonthRun) -> None:
    by_source = run.report["registered"]["by_source"]
    assert run.record.registered["complaint"] > 0 and run.record.faults_found
    assert by_source["complaint"] == run.record.registered["complaint"]
    # Every item found faulty opened a repair ticket of its own.
    assert by_source["repair"] == run.record.registered["repair"] + len(run.record.faults_found)
    assert by_source["planned"] == len(run.record.inspected)
    assert [c["reporter"] for c in run.report["complaints"]] != []


def test_every_revisit_made_is_counted_and_the_late_ones_are_late(run: MonthRun) -> None:
    made = [r for done in run.record.revisits.values() for r in done]
    late = sum(1 for _result, _score, was_late in made if was_late)
    revisits = run.report["revisits"]
    assert len(made) == run.record.done["revisit"] > 0
    assert (revisits["on_time"], revisits["late"], revisits["pending"]) == (len(made) - late, late, 0)


def test_satisfaction_is_each_tickets_latest_score(run: MonthRun) -> None:
    latest = [done[-1][1] for done in run.record.revisits.values()]
    sat = run.report["satisfaction_detail"]
    assert sat["scored"] == len(latest)
    assert sat["satisfied"] == sum(1 for score in latest if score is not None and score >= 4)


def test_rework_is_the_tickets_whose_revisit_failed(run: MonthRun) -> None:
    assert run.record.failed, "a 30% failure rate over dozens of revisits fails some"
    assert run.report["rework"]["reopened"] == run.record.failed
    assert set(run.record.failed) <= set(run.report["rework"]["tickets"])


def test_planned_work_is_judged_as_the_inspectors_did_it(run: MonthRun) -> None:
    late = sum(run.record.inspected.values())
    planned = run.report["planned"]
    assert (planned["on_time"], planned["late"], planned["pending"]) == (len(run.record.inspected) - late, late, 0)


def test_patrol_coverage_is_what_the_guards_walked(run: MonthRun, site: Site) -> None:
    sim_site = load_sim_site(site)
    truths = [r for i, day in enumerate(DAYS) for r in round_truths(sim_site, 7 + i, *WINDOW.of(day, TZ))]
    patrol = run.report["patrol"]
    assert patrol["rounds"] == len(truths) > 0
    assert patrol["expected"] == sum(r.expected for r in truths)
    assert patrol["visited"] == sum(r.visited for r in truths)


def test_the_tickets_of_both_nights_are_in_one_store(run: MonthRun) -> None:
    # Both nights' gateways wrote to one store: the planned fire-door checks of both days are there
    # (15 fire doors in the inventory, one check each a day).
    assert run.nights == 2
    assert run.report["registered"]["by_source"]["planned"] == 2 * 15


# -- the people's decisions alone (pure) -------------------------------------------------------------

def test_the_desk_is_seeded_and_registers_in_desk_hours() -> None:
    day = date(2026, 11, 12)
    first = desk_requests(day, seed=3, tz=TZ)
    assert first == desk_requests(day, seed=3, tz=TZ)
    many = [r for d in range(60) for r in desk_requests(day + timedelta(days=d), seed=3, tz=TZ)]
    assert 60 * 2.5 < len(many) < 60 * 5.5  # Poisson(1.5) + Poisson(2.5) a day
    assert all(time(8, 30) <= r.at.time() <= time(20, 0) for r in many)
    assert any(r.request.emergency and r.request.category == "water" for r in many)


def _repair() -> Request:
    return Request(source="repair", channel="phone", title="Dripping tap", category="plumbing", zone="b2")


def test_on_time_people_beat_the_deadline_and_late_ones_miss_it() -> None:
    opened = datetime(2026, 11, 12, 10, 0, tzinfo=TZ)
    ticket = open_request(_repair(), site="s", actor="desk", now=opened, policy=TicketPolicy(), tz=TZ)
    ticket.seq = 1
    assert ticket.respond_due_at == opened + timedelta(hours=2)  # a repair request: 2 h to respond
    on_time = Habits(on_time={"respond": 1.0, "arrive": 1.0, "resolve": 1.0, "revisit": 1.0, "inspect": 1.0})
    never = Habits(on_time={"respond": 0.0, "arrive": 0.0, "resolve": 0.0, "revisit": 0.0, "inspect": 0.0})
    for seed in range(20):
        good = next_step(ticket, opened, seed=seed, tz=TZ, habits=on_time)
        bad = next_step(ticket, opened, seed=seed, tz=TZ, habits=never)
        assert good is not None and bad is not None and good.action == bad.action == "accept"
        assert opened < good.at <= opened + timedelta(hours=2) and not good.late
        assert bad.at >= opened + timedelta(hours=2, minutes=10) and bad.late
