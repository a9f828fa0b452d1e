"""The monthly report of a hand-made November 2026, every figure against arithmetic done by hand.

The month is driven through the ticket service with explicit times (no wall clock); the report is
made at NOW = Mon 30 Nov 12:00 site time. Default policy: repair (major) respond 2 h / resolve 72 h;
emergency respond 1 h / on site 1 h / resolve 2 h; complaint, planned and minor sensor tickets
respond 24 h / resolve 48 h; revisit by the end (18:00) of the next working day (no holidays in
November 2026; 1 Nov is a Sunday); planned work is not revisited.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.core.model import AlertEvent
from gateway.reports.month import BadMonth, Month
from gateway.reports.source import ReportSource
from gateway.tickets.changes import Details, Request
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=TZ)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return at(11, day, hour, minute)


@pytest.fixture
def svc() -> Iterator[TicketService]:
    store = TicketStore("sqlite:///:memory:")
    yield TicketService(store, site_id="hv", tz=TZ, policy=TicketPolicy())
    store.close()


class Month11:
    """The tickets of the month, by the name the comments use."""

    def __init__(self, svc: TicketService) -> None:
        self.svc = svc
        self.ids: dict[str, str] = {}

    def request(self, name: str, when: datetime, source: str, zone: str, **kw: Any) -> None:
        channel = {"planned": "schedule"}.get(source, "phone")
        t = self.svc.create(Request(source=source, channel=channel, title=name, zone=zone, **kw),
                            actor="desk", now=when)
        self.ids[name] = t.id

    def sensor(self, name: str, when: datetime) -> None:
        [t] = self.svc.handle([AlertEvent(rule="lighting.lamp_out", device="lamp-7", zone="b2", state="firing",
                                          severity="minor", title=name, ts=when, labels={"fault": "lamp_out"})])
        self.ids[name] = t.id

    def act(self, name: str, action: str, when: datetime, actor: str, **details: Any) -> None:
        self.svc.act(self.ids[name], action, actor=actor, now=when, details=Details(**details))


def make_month(svc: TicketService) -> Month11:
    m = Month11(svc)
    # STALE: a repair from July never touched (b2): no November deadline, still open and overdue.
    m.request("STALE", at(7, 1, 9), "repair", "b2")
    # T0 (a1): complaint of Sat 31 Oct 14:00 -> respond due Sun 1 Nov 14:00, resolve due Mon 2 Nov 14:00.
    m.request("T0", at(10, 31, 14), "complaint", "a1", category="noise", reporter_name="赵先生")
    m.act("T0", "accept", at(10, 31, 15), "eng-a")
    m.act("T0", "resolve", nov(2, 11), "eng-a")  # revisit due Tue 3 Nov 18:00
    m.act("T0", "revisit", nov(3, 17), "cs-1", result="ok")  # no score
    # T1 (a1): repair Mon 2 Nov 09:00, everything on time; revisit score 5.
    m.request("T1", nov(2, 9), "repair", "a1")  # respond due 11:00, resolve due Thu 5 Nov 09:00
    m.act("T1", "accept", nov(2, 9, 30), "eng-a")
    m.act("T1", "arrive", nov(2, 10), "eng-a")
    m.act("T1", "resolve", nov(2, 15), "eng-a")  # revisit due Tue 3 Nov 18:00
    m.act("T1", "revisit", nov(3, 10), "cs-1", result="ok", satisfaction=5)
    # T2 (b2): emergency Wed 4 Nov 20:00, on site late, fixed in time; revisit score 3.
    m.request("T2", nov(4, 20), "repair", "b2", emergency=True)  # respond/arrive due 21:00, resolve 22:00
    m.act("T2", "accept", nov(4, 20, 10), "eng-b")
    m.act("T2", "arrive", nov(4, 21, 30), "eng-b")  # 30 min late
    m.act("T2", "resolve", nov(4, 21, 50), "eng-b")  # revisit due Thu 5 Nov 18:00
    m.act("T2", "revisit", nov(5, 9), "cs-1", result="ok", satisfaction=3)
    # T3 (a1): complaint Mon 9 Nov 10:00 nobody ever acknowledged: respond due 10 Nov, resolve 11 Nov.
    m.request("T3", nov(9, 10), "complaint", "a1", category="noise", reporter_name="王女士")
    # T6 (b2): lamp-7 out Tue 10 Nov 20:00 (sensor, minor): respond due 11 Nov 20:00, resolve 12 Nov 20:00.
    m.sensor("T6", nov(10, 20))
    m.act("T6", "accept", nov(10, 21), "eng-a")
    m.act("T6", "resolve", nov(11, 9), "eng-a")  # Wed -> revisit due Thu 12 Nov 18:00
    m.act("T6", "revisit", nov(12, 10), "cs-1", result="ok")
    # T4 (b2): repair Mon 16 Nov 08:00 accepted in time, still not fixed: resolve due Thu 19 Nov 08:00.
    m.request("T4", nov(16, 8), "repair", "b2")
    m.act("T4", "accept", nov(16, 9), "eng-a")
    # T5 (c3): complaint Tue 17 Nov 09:00; the revisit fails (score 2), the second repair holds (score 4).
    m.request("T5", nov(17, 9), "complaint", "c3", category="sanitation", reporter_name="李先生")
    m.act("T5", "accept", nov(17, 10), "eng-b")
    m.act("T5", "resolve", nov(17, 16), "eng-b")  # revisit due Wed 18 Nov 18:00
    m.act("T5", "revisit", nov(18, 11), "cs-1", result="failed", satisfaction=2)
    # ... open again from 18 Nov 11:00: respond due 19 Nov 11:00, resolve due 20 Nov 11:00
    m.act("T5", "accept", nov(18, 13), "eng-b")
    m.act("T5", "resolve", nov(19, 10), "eng-b")  # revisit due Fri 20 Nov 18:00
    m.act("T5", "revisit", nov(20, 9), "cs-1", result="ok", satisfaction=4)
    # T7 (b2): lamp-7 out again Fri 20 Nov 20:00, 11 days after T6's repair: a repeat (rework of T6).
    m.sensor("T7", nov(20, 20))  # respond due 21 Nov 20:00, resolve due 22 Nov 20:00
    m.act("T7", "accept", nov(20, 21), "eng-a")
    m.act("T7", "resolve", nov(21, 8), "eng-a")  # Sat -> revisit due Mon 23 Nov 18:00, never made
    # T8 (c3): planned Mon 23 Nov 08:00 done late: resolve due Wed 25 Nov 08:00, done Thu 26 Nov 10:00.
    m.request("T8", nov(23, 8), "planned", "c3", category="inspection")
    m.act("T8", "accept", nov(23, 9), "eng-c")
    m.act("T8", "resolve", nov(26, 10), "eng-c")
    m.act("T8", "close", nov(26, 11), "eng-c")
    # T9 (c3): planned Tue 24 Nov 08:00 done in time (resolve due Thu 26 Nov 08:00).
    m.request("T9", nov(24, 8), "planned", "c3", category="inspection")
    m.act("T9", "accept", nov(24, 8, 30), "eng-c")
    m.act("T9", "resolve", nov(24, 15), "eng-c")
    # T10 (a1): repair Wed 25 Nov 09:00 cancelled at 09:30 (a duplicate).
    m.request("T10", nov(25, 9), "repair", "a1")
    m.act("T10", "cancel", nov(25, 9, 30), "desk")
    # T11 (c3): repair Mon 30 Nov 11:00: respond due 13:00, after NOW: pending. Resolve due 3 Dec.
    m.request("T11", nov(30, 11), "repair", "c3")
    return m


@pytest.fixture
def report(svc: TicketService) -> tuple[dict[str, Any], dict[str, str]]:
    m = make_month(svc)
    source = ReportSource(tickets=svc, rounds=None, tz=TZ, site="hv")
    return source.monthly(Month.parse("2026-11"), NOW), m.ids


def test_tickets_registered_in_the_month_by_source_category_zone_severity(
        report: tuple[dict[str, Any], dict[str, str]]) -> None:
    r, _ = report
    # Registered 1..30 Nov: T1 T2 T3 T4 T5 T6 T7 T8 T9 T11 = 10 (STALE: July, T0: October); T10 cancelled apart.
    assert r["month"] == "2026-11" and r["tickets"] == 10
    reg = r["registered"]
    assert (reg["total"], reg["cancelled"]) == (10, 1)
    # complaint T3 T5; planned T8 T9; repair T1 T2 T4 T11; sensor T6 T7
    assert reg["by_source"] == {"complaint": 2, "planned": 2, "repair": 4, "sensor": 2}
    # general: T1 T2 T4 T11 T6 T7; noise T3; sanitation T5; inspection T8 T9
    assert reg["by_category"] == {"general": 6, "inspection": 2, "noise": 1, "sanitation": 1}
    # a1: T1 T3; b2: T2 T4 T6 T7; c3: T5 T8 T9 T11
    assert reg["by_zone"] == {"a1": 2, "b2": 4, "c3": 4}
    # critical: T2 (emergency); major: repairs T1 T4 T11; minor: complaints, sensors, planned = 6
    assert reg["by_severity"] == {"critical": 1, "major": 3, "minor": 6}


def test_each_stage_counts_every_deadline_of_the_month(report: tuple[dict[str, Any], dict[str, str]]) -> None:
    r, _ = report
    st = r["stages"]
    # respond, deadlines in Nov: T0 (1 Nov, done 31 Oct) on time; T1 T2 T4 T5 (current cycle, due
    # 19 Nov, accepted 18 Nov) T6 T7 T8 T9 on time; T3 never acknowledged: late; T11 due 13:00 today: pending.
    # STALE's deadlines are in July, T10 is cancelled. 9 / (9 + 1) = 0.9 < 0.95
    assert st["respond"] == {"on_time": 9, "late": 1, "pending": 1, "rate": 0.9, "target": 0.95, "met": False}
    # arrive: only the emergency T2 has an on-site deadline: 21:30 > 21:00 -> late. 0 / 1
    assert st["arrive"] == {"on_time": 0, "late": 1, "pending": 0, "rate": 0.0, "target": 0.95, "met": False}
    # resolve: T0 T1 T2 T5 T6 T7 T9 on time = 7; T3 (never), T4 (still open), T8 (26 > 25 Nov) late = 3
    # (T11's resolve is due in December). 7 / 10
    assert st["resolve"] == {"on_time": 7, "late": 3, "pending": 0, "rate": 0.7, "target": 0.95, "met": False}
    # revisit (the ticket's current repair): T0 T1 T2 T5 (20 Nov, after the second repair) T6 on time;
    # T7 (due 23 Nov, not made) late; planned T8 T9 are not revisited. 5 / 6
    assert st["revisit"]["on_time"] == 5 and st["revisit"]["late"] == 1 and st["revisit"]["pending"] == 0
    assert st["revisit"]["rate"] == pytest.approx(5 / 6)
    assert r["timeliness"] == {"respond": 0.9, "arrive": 0.0, "resolve": 0.7, "revisit": pytest.approx(5 / 6)}


def test_revisits_satisfaction_rework_and_planned(report: tuple[dict[str, Any], dict[str, str]]) -> None:
    r, ids = report
    # Revisits due in Nov, one per repair: T0 T1 T2 T6 on time; T5 twice (the failed one of 18 Nov
    # due 18 Nov 18:00, made 11:00; the second due 20 Nov, made 09:00) on time; T7 missed. 6 / 7
    assert (r["revisits"]["on_time"], r["revisits"]["late"], r["revisits"]["pending"]) == (6, 1, 0)
    assert r["revisit_rate"] == pytest.approx(6 / 7)
    # Scores of revisits made in Nov: T1 5, T2 3, T5 4 (its latest; the failed one's 2 was replaced);
    # T0 and T6 gave none. Satisfied (>= 4): T1 T5 -> 2 / 3; mean (5 + 3 + 4) / 3 = 4.0
    sat = r["satisfaction_detail"]
    assert (sat["scored"], sat["satisfied"], sat["mean"], sat["target"], sat["met"]) == (3, 2, 4.0, 0.9, False)
    assert r["satisfaction"] == pytest.approx(2 / 3)
    # Repaired by a person in Nov: T0 T1 T2 T5 T6 T7 T8 T9 = 8. Rework: T5 (failed revisit) and T6
    # (lamp-7's lamp_out again as T7, 11 days after the repair). 2 / 8 = 0.25
    rw = r["rework"]
    assert rw["repaired"] == 8 and rw["reopened"] == [ids["T5"]] and rw["repeated"] == [ids["T6"]]
    assert r["rework_rate"] == 0.25
    # Planned with the resolve deadline in Nov: T8 late, T9 on time. 1 / 2
    assert (r["planned"]["on_time"], r["planned"]["late"], r["planned"]["rate"]) == (1, 1, 0.5)
    assert r["patrol_coverage"] is None and r["patrol"]["expected"] == 0  # no patrol at this site


def test_zones_ranked_by_timeliness_then_open_overdue(report: tuple[dict[str, Any], dict[str, str]]) -> None:
    r, _ = report
    # Every Nov deadline of each zone's tickets:
    #   a1: T0 respond/resolve/revisit on time, T1 the same, T3 respond and resolve late -> 6 / 8 = 0.75;
    #       open overdue: T3.
    #   b2: T2 3 on time + arrive late, T4 respond on time + resolve late, T6 3 on time,
    #       T7 respond and resolve on time + revisit late -> 9 / 12 = 0.75; open overdue: T4 and STALE.
    #   c3: T5 3 on time, T8 respond on time + resolve late, T9 2 on time, T11 pending -> 6 / 7.
    # c3 first; a1 and b2 tie on 0.75, a1 has fewer open overdue.
    zones = [(z["rank"], z["zone"], z["on_time"], z["late"], z["pending"], z["open_overdue"]) for z in r["zones"]]
    assert zones == [(1, "c3", 6, 1, 1, 0), (2, "a1", 6, 2, 0, 1), (3, "b2", 9, 3, 0, 2)]


def test_the_daily_complaint_review_lists_each_complaint_of_the_month(
        report: tuple[dict[str, Any], dict[str, str]]) -> None:
    r, ids = report
    # T0 was registered in October; T3 was never handled (both its stages late); T5 is closed, and its
    # current cycle was on time.
    assert r["complaints"] == [
        {"id": ids["T3"], "day": "2026-11-09", "reporter": "王女士", "zone": "a1", "category": "noise",
         "title": "T3", "status": "open", "late_stages": ["respond", "resolve"]},
        {"id": ids["T5"], "day": "2026-11-17", "reporter": "李先生", "zone": "c3", "category": "sanitation",
         "title": "T5", "status": "closed", "late_stages": []},
    ]


def test_a_month_is_yyyy_mm_in_site_time() -> None:
    m = Month.parse("2026-12")
    assert (m.start(TZ), m.end(TZ)) == (datetime(2026, 12, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))
    for bad, why in (("2026-13", "months run from 01 to 12"), ("2026-1", "write it as YYYY-MM"),
                     ("nov", "write it as YYYY-MM")):
        with pytest.raises(BadMonth, match=why):
            Month.parse(bad)


def test_a_failed_revisit_is_not_the_revisit_of_the_repair_after_it(svc: TicketService) -> None:
    from gateway.tickets import stages

    t = svc.create(Request(source="repair", channel="phone", title="tap drips", zone="a1"), actor="desk", now=nov(2, 9))
    svc.act(t.id, "resolve", actor="eng-a", now=nov(2, 10))
    svc.act(t.id, "revisit", actor="cs-1", now=nov(2, 11), details=Details(result="failed"))
    again = svc.act(t.id, "resolve", actor="eng-a", now=nov(2, 15))
    # The new repair (Mon 15:00) waits for its own revisit, due Tue 3 Nov 18:00.
    assert stages.done_at(again, "revisit") is None and stages.pending(again, "revisit")
    assert again.revisit_due_at == nov(3, 18) and again.due_at == nov(3, 18)
