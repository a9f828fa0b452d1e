"""The standards' service loop through the HTTP API, with real tokens: 登记 → 派单 → 到场 → 处理 → 关闭
→ 回访. Every deadline below is worked out by hand from the standards' defaults (docs/tickets.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.auth.tokens import TokenStore
from gateway.core.clock import FakeClock
from gateway.core.model import AlertEvent
from gateway.tickets.api import make_router
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore
from gateway.web.guard import protect

TZ = ZoneInfo("Asia/Shanghai")
H, M = timedelta(hours=1), timedelta(minutes=1)
MON = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)  # Monday 23 November 2026, 09:00 site time


@dataclass
class Site:
    client: TestClient
    service: TicketService
    clock: FakeClock
    tokens: dict[str, str]

    def post(self, path: str, who: str, body: dict[str, Any] | None = None, *, at: datetime | None = None,
             status: int = 200) -> dict[str, Any]:
        if at is not None:
            self.clock.set(at)
        response = self.client.post(path, json=body or {}, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert response.status_code == status, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def request(self, who: str, at: datetime, **body: Any) -> dict[str, Any]:
        return self.post("/api/tickets", who, body, at=at, status=201)

    def act(self, ticket: str, action: str, who: str, at: datetime, status: int = 200,
            **body: Any) -> dict[str, Any]:
        return self.post(f"/api/tickets/{ticket}/{action}", who, body, at=at, status=status)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    store = TicketStore(f"sqlite:///{tmp_path}/t.db")
    policy = TicketPolicy.model_validate({"owners": {"zones": {"b1": "1号楼 B1 team", "b2": "2号楼 B2 team"}}})
    service = TicketService(store, site_id="hv", tz=TZ, policy=policy)
    clock = FakeClock(MON)
    tokens_db = TokenStore.in_dir(tmp_path)
    people = {"desk": ("service", ()), "wang": ("engineer", ()), "li": ("engineer", ()),
              "b1-only": ("engineer", ("b1",)), "guard": ("guard", ()), "boss": ("supervisor", ())}
    tokens = {name: tokens_db.create(name, role, zones=zones).secret for name, (role, zones) in people.items()}
    app = FastAPI()
    app.include_router(make_router(service, clock))
    protect(app, tokens_db, read_open=True)
    with TestClient(app) as client:
        yield Site(client, service, clock, tokens)
    tokens_db.close()
    store.close()


def history(ticket: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h["action"], h["actor"]) for h in ticket["history"]]


def test_a_residents_complaint_answered_and_handled_in_time(site: Site) -> None:
    t = site.request("desk", MON, source="complaint", channel="phone", category="service", zone="b1",
                     title="电梯厅灯不亮 Lift lobby light out", description="4F lift lobby dark since last night",
                     place="B1 4F lift lobby", reporter={"name": "陈女士 Ms Chen", "contact": "138-0000-0000"})
    assert (t["source"], t["channel"], t["status"], t["severity"]) == ("complaint", "phone", "open", "minor")
    assert t["reporter"] == {"name": "陈女士 Ms Chen", "contact": "138-0000-0000"}
    assert t["team"] == t["assignee"] == "1号楼 B1 team"
    # Complaints: answered within 24 h, handled within 48 h of registration (Monday 09:00).
    assert t["deadlines"] == {"respond": "2026-11-24T09:00:00+08:00", "arrive": None,
                              "resolve": "2026-11-25T09:00:00+08:00", "revisit": None}
    tid = t["id"]
    site.act(tid, "accept", "wang", MON + 2 * H, status=403, assignee="li")  # engineers take work, not dispatch it
    t = site.act(tid, "accept", "desk", MON + 2 * H, assignee="li")  # customer service dispatches it to Li
    assert (t["status"], t["assignee"]) == ("acknowledged", "li")
    site.act(tid, "arrive", "li", MON + 3 * H, checkpoint="cp-b1-4f")
    t = site.act(tid, "resolve", "li", MON + 4 * H, work_done="replaced the driver", parts=["LED driver 20W"])
    assert (t["resolved_by"], t["work_done"], t["parts"]) == ("li", "replaced the driver", ["LED driver 20W"])
    # Resolved Monday 13:00: the revisit is due by the end of the next working day, Tuesday 18:00.
    assert t["deadlines"]["revisit"] == "2026-11-24T18:00:00+08:00"
    site.act(tid, "feedback", "desk", MON + 5 * H, note="told Ms Chen it is fixed")
    t = site.act(tid, "revisit", "desk", MON + 24 * H, result="ok", satisfaction=5)
    assert (t["status"], t["revisit_result"], t["satisfaction"], t["revisited_by"]) == ("closed", "ok", 5, "desk")
    assert t["late_stages"] == [] and not any(s["late"] for s in t["stages"].values())
    assert t["stages"]["arrive"]["done_at"] == "2026-11-23T12:00:00+08:00"
    assert history(t) == [("opened", "desk"), ("accepted", "desk"), ("arrived", "li"), ("resolved", "li"),
                          ("feedback", "desk"), ("revisited", "desk")]
    assert t["feedback_at"] == "2026-11-23T14:00:00+08:00"


def test_an_emergency_leak_late_on_arrival_but_on_time_to_fix(site: Site) -> None:
    t = site.request("desk", MON, source="repair", channel="phone", category="water", emergency=True, zone="b2",
                     title="地下室漏水 Basement water leak", place="B2 basement pump room")
    tid = t["id"]
    # An emergency: on site within 1 h and handled within 2 h of the call.
    assert (t["severity"], t["emergency"]) == ("critical", True)
    # One leak reported by one caller: 三级 (a minor leak) of the three-level emergency response.
    assert t["emergency_level"] == 3 and t["history"][-1]["action"] == "emergency_level"
    assert t["deadlines"]["arrive"] == "2026-11-23T10:00:00+08:00"
    assert t["deadlines"]["resolve"] == "2026-11-23T11:00:00+08:00"
    site.act(tid, "accept", "wang", MON + 10 * M)
    [late] = site.service.tick(MON + 61 * M)  # nobody on site at 10:01
    assert late.late_stages == ["arrive"] and late.overdue
    t = site.act(tid, "arrive", "wang", MON + 75 * M)
    t = site.act(tid, "resolve", "wang", MON + 110 * M, work_done="closed the valve, replaced the joint")
    assert t["late_stages"] == ["arrive"]
    assert (t["stages"]["arrive"]["late"], t["stages"]["resolve"]["late"], t["stages"]["respond"]["late"]) == \
        (True, False, False)
    overdue = [h["note"] for h in t["history"] if h["action"] == "overdue"]
    assert overdue == ["arrive deadline 2026-11-23 10:00 passed (not done)"]


def test_a_repair_whose_revisit_fails_reopens_it(site: Site) -> None:
    t = site.request("desk", MON, source="repair", channel="desk", category="lighting", zone="b1",
                     title="走廊灯闪 Corridor light flickers")
    tid = t["id"]
    # An ordinary repair: answered within 2 h; lighting is done within 24 h of acceptance.
    assert t["deadlines"]["respond"] == "2026-11-23T11:00:00+08:00"
    t = site.act(tid, "accept", "wang", MON + 30 * M)
    assert t["deadlines"]["resolve"] == "2026-11-24T09:30:00+08:00"
    site.act(tid, "resolve", "boss", MON + 3 * H, work_done="new starter")  # the supervisor fixed it himself
    # Closing without the revisit, a revisit by an engineer, and one by the repairer himself are refused.
    refused = site.act(tid, "close", "wang", MON + 4 * H, status=409)
    assert "revisit" in refused["detail"]
    refused = site.act(tid, "revisit", "wang", MON + 4 * H, status=403, result="ok")
    assert "engineer" in refused["detail"]
    refused = site.act(tid, "revisit", "boss", MON + 4 * H, status=403, result="ok")
    assert "someone else" in refused["detail"]
    t = site.act(tid, "revisit", "desk", MON + 26 * H, result="failed", satisfaction=2, note="still flickers")
    assert (t["status"], t["reopen_count"], t["revisit_result"], t["satisfaction"]) == ("open", 1, "failed", 2)
    assert t["history"][-1]["action"] == "revisit_failed" and "maintenance lead" in t["history"][-1]["note"]
    # Rework: the stages start again from the failed revisit (Tuesday 11:00).
    assert t["deadlines"]["respond"] == "2026-11-24T13:00:00+08:00" and t["resolved_by"] is None
    site.act(tid, "accept", "li", MON + 27 * H)
    site.act(tid, "resolve", "li", MON + 28 * H, work_done="replaced the fitting")
    t = site.act(tid, "revisit", "desk", MON + 30 * H, result="ok", satisfaction=4)
    assert (t["status"], t["reopen_count"], t["satisfaction"]) == ("closed", 1, 4)


def test_the_revisit_of_a_repair_before_national_day_is_due_after_the_holiday(site: Site) -> None:
    sep30 = datetime(2026, 9, 30, 15, 0, tzinfo=TZ)  # Wednesday; 1-7 October are days off
    t = site.request("desk", sep30, source="repair", channel="online", category="plumbing", zone="b1",
                     title="厨房水龙头滴水 Kitchen tap drips")
    site.act(t["id"], "accept", "wang", sep30 + 10 * M)
    t = site.act(t["id"], "resolve", "wang", sep30 + H)
    assert t["deadlines"]["revisit"] == "2026-10-08T18:00:00+08:00"  # Thursday 8 October, the next working day
    oct8 = datetime(2026, 10, 8, 17, 59, tzinfo=TZ)
    assert site.service.tick(oct8) == []
    [late] = site.service.tick(oct8 + M)
    assert late.revisit_overdue and late.history[-1].action == "revisit_overdue"


def test_zone_limits_and_least_privilege(site: Site) -> None:
    b2 = site.request("desk", MON, source="repair", channel="phone", category="lift", zone="b2",
                      title="电梯异响 Lift noise")
    b1 = site.request("desk", MON, source="repair", channel="phone", category="lift", zone="b1",
                      title="电梯门慢 Lift door slow")
    refused = site.act(b2["id"], "accept", "b1-only", MON + M, status=403)
    assert "b1" in refused["detail"] and "b2" in refused["detail"]
    site.act(b1["id"], "accept", "b1-only", MON + M)
    site.post("/api/tickets", "b1-only", {"source": "repair", "channel": "phone", "title": "x", "zone": "b2"},
              status=403)
    # Only supervisors cancel; customer service dispatches but does not repair; guards only register.
    site.act(b2["id"], "cancel", "wang", MON + 2 * M, status=403)
    site.act(b2["id"], "resolve", "desk", MON + 2 * M, status=403)
    site.act(b2["id"], "accept", "desk", MON + 2 * M, assignee="li")
    site.act(b2["id"], "accept", "guard", MON + 2 * M, status=403)
    site.request("guard", MON + 3 * M, source="repair", channel="patrol", title="消防通道堵塞 Fire lane blocked",
                 zone="b2")
    t = site.act(b2["id"], "cancel", "boss", MON + 4 * M, note="duplicate of a call")
    assert t["status"] == "cancelled"


def test_requests_with_bad_data_are_refused_with_the_reason(site: Site) -> None:
    for body, wanted in (({"source": "praise", "channel": "phone", "title": "x"}, "source"),
                         ({"source": "repair", "channel": "fax", "title": "x"}, "channel"),
                         ({"source": "repair", "channel": "phone"}, "title"),
                         ({"source": "repair", "channel": "phone", "title": "x", "photos": ["c:/a.jpg"]}, "photos"),
                         ({"source": "repair", "channel": "phone", "title": "x", "colour": "red"}, "colour")):
        detail = site.post("/api/tickets", "desk", body, status=422)["detail"]
        assert wanted in str(detail)
    t = site.request("desk", MON, source="repair", channel="phone", title="门禁坏 Door reader dead", zone="b1")
    detail = site.act(t["id"], "revisit", "desk", MON + H, status=422)["detail"]
    assert "result" in detail
    assert site.act(t["id"], "revisit", "desk", MON + H, status=422, result="ok", satisfaction=9)


def test_acknowledging_a_sensor_ticket_never_stops_the_completion_clock(site: Site) -> None:
    [t] = site.service.handle([AlertEvent(rule="fire.pressure_low", device="ext-b1-01", zone="b1", state="firing",
                                          severity="major", title="Low pressure", ts=MON, category="fire")])
    acked = site.act(t.id, "ack", "wang", MON + H)
    # Fire equipment: 24 h from acceptance (10:00), by the facility table.
    assert acked["deadlines"]["resolve"] == "2026-11-24T10:00:00+08:00" == acked["due_at"]
    [late] = site.service.tick(MON + 25 * H)
    assert late.overdue and late.late_stages == ["resolve"]
