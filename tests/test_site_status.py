"""The site's status (gateway/web/sitestatus.py), the floor list (places.py) and their endpoints
/api/status and /api/places: every expected figure and sentence here is worked out by hand from the
rules in docs/dashboard.md."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.web.overview_api import make_overview_router
from gateway.web.places import floor_list, floor_of
from gateway.web.sitestatus import Places, duration_text, site_status
from tests.support.fakesite import FakeSite

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 22, 26, tzinfo=TZ)
PLACES = Places(devices={"smoke-1": "1号楼 5层 B1 5F", "lamp-1": "广场 Plaza 1"},
                checkpoints={"cp-9": "北门 North gate"})


def at(hh: int, mm: int) -> str:
    return datetime(2026, 11, 20, hh, mm, tzinfo=TZ).isoformat()


def ticket(tid: str, severity: str, opened: str, due: str | None, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "severity": severity, "status": "open", "opened_at": opened, "due_at": due,
            "title": f"Fault: {extra.get('device_id', 'x')}", "device_id": "x", "zone": "b1", "source": "sensor",
            **extra}


def device(did: str, kind: str, *, band: str = "good", online: bool | None = True, **extra: Any) -> dict[str, Any]:
    return {"id": did, "kind": kind, "zone": "plaza", "online": online, "health_band": band, "metrics": {}, **extra}


def status(tickets: list[dict[str, Any]] = [], devices: list[dict[str, Any]] = [],  # noqa: B006 (read only)
           rounds: list[dict[str, Any]] = []) -> dict[str, Any]:  # noqa: B006
    return site_status(tickets=tickets, devices=devices, rounds=rounds, places=PLACES, now=NOW)


def test_a_critical_ticket_overdue_makes_the_site_red_with_how_long_and_where_in_both_languages() -> None:
    smoke = ticket("T-1", "critical", at(20, 0), at(21, 0), device_id="smoke-1", title="Smoke alarm: smoke-1")
    s = status([smoke])
    assert s["level"] == "red"
    [r] = s["reasons"]
    assert r["code"] == "critical_overdue" and r["tickets"] == ["T-1"]
    assert r["text_en"] == "1 critical overdue 1 h 26 min: Smoke alarm 1号楼 5层 B1 5F"
    assert r["text_zh"] == "1 个紧急工单超时 1 小时 26 分：Smoke alarm 1号楼 5层 B1 5F"
    assert r["params"] == {"count": 1, "overdue_s": 5160}


def test_a_critical_ticket_within_its_deadline_is_red_too_and_an_acknowledged_one_still_counts() -> None:
    s = status([ticket("T-1", "critical", at(22, 0), at(23, 0), status="acknowledged")])
    assert s["level"] == "red" and [r["code"] for r in s["reasons"]] == ["critical_open"]


def test_seven_dark_lamps_make_the_site_amber_and_name_three_of_them() -> None:
    lamps = [device(f"lamp-{i}", "lamp", band="faulty") for i in range(1, 8)]
    s = status(devices=[*lamps, device("lux-1", "lux_sensor")])
    assert s["level"] == "amber"
    [r] = s["reasons"]
    assert r["code"] == "devices_faulty" and r["devices"] == [f"lamp-{i}" for i in range(1, 8)]
    assert r["text_en"] == "7 devices faulty (lamp ×7): 广场 Plaza 1, lamp-2, lamp-3 … +4"
    assert r["text_zh"] == "7 台设备故障（路灯 ×7）：广场 Plaza 1, lamp-2, lamp-3 … +4"


def test_fire_equipment_smoke_and_offline_devices_are_reasons_of_their_own() -> None:
    devices = [device("smoke-1", "smoke_detector", band="faulty", metrics={"smoke": True}),
               device("ext-1", "extinguisher", band="faulty"),
               device("lamp-9", "lamp", band="offline", online=False)]
    s = status(devices=devices)
    assert s["level"] == "red"
    assert [(r["code"], r["level"], r["devices"]) for r in s["reasons"]] == [
        ("fire_alarm", "red", ["smoke-1"]),
        ("fire_equipment_faulty", "amber", ["ext-1"]),  # smoke-1 is said once, as the alarm
        ("devices_offline", "amber", ["lamp-9"]),
    ]
    assert s["reasons"][2]["text_zh"] == "1 台设备离线（路灯 ×1）：lamp-9"


def test_overdue_major_is_red_overdue_minor_amber_and_minor_in_time_keeps_green() -> None:
    assert status([ticket("T-1", "minor", at(20, 0), at(23, 0))])["level"] == "green"
    minor_late = status([ticket("T-1", "minor", at(12, 0), at(22, 0)), ticket("T-2", "warning", at(9, 0), at(21, 0))])
    assert minor_late["level"] == "amber"
    assert minor_late["reasons"][0]["text_en"].startswith("2 overdue 1 h 26 min: ")  # the longest overdue
    major_late = status([ticket("T-3", "major", at(20, 0), at(22, 20))])
    assert (major_late["level"], major_late["reasons"][0]["code"]) == ("red", "major_overdue")
    assert status([ticket("T-4", "major", at(22, 0), at(23, 0))])["level"] == "amber"
    assert status([ticket("T-5", "critical", at(20, 0), at(21, 0), status="resolved")])["level"] == "green"


def test_rounds_in_trouble_tonight_make_it_amber_and_an_old_one_does_not() -> None:
    tonight = {"route": "night-north", "route_name": "北线 North", "round_id": "r1", "scheduled_start": at(20, 0),
               "status": "incomplete", "missed": ["cp-1", "cp-2"]}
    last_week = {**tonight, "round_id": "r0", "scheduled_start": "2026-11-13T20:00:00+08:00"}
    on_time = {**tonight, "round_id": "r2", "scheduled_start": at(22, 0), "status": "in_progress", "missed": []}
    s = status(rounds=[tonight, last_week, on_time])
    assert s["level"] == "amber"
    [r] = s["reasons"]
    assert r["text_en"] == "1 patrol round in trouble, 2 checkpoints missed: 北线 North 20:00"
    assert r["text_zh"] == "1 个巡更班次异常，漏检 2 个巡更点：北线 North 20:00"


def test_nothing_wrong_is_green_and_the_gateway_is_not_part_of_it() -> None:
    s = status(devices=[device("lamp-1", "lamp")])
    assert (s["level"], s["reasons"]) == ("green", [])
    assert "gateway" not in s  # the endpoint adds it beside, never inside the colour


def test_needs_action_is_overdue_first_then_severity_then_age_and_skips_planned_work_not_yet_due() -> None:
    found = [
        ticket("A", "warning", at(19, 0), at(22, 0)),  # overdue, warning
        ticket("B", "critical", at(22, 20), at(23, 20)),  # in time, critical, newest
        ticket("C", "major", at(21, 0), at(22, 25)),  # overdue, major
        ticket("D", "critical", at(22, 0), at(23, 0), assignee="李明"),  # in time, critical, older than B
        ticket("E", "minor", at(8, 0), at(23, 59), source="planned"),  # planned, due later: not now
        ticket("F", "minor", at(20, 0), None, device_id="cp-9"),  # no deadline, place = checkpoint name
        ticket("G", "minor", at(8, 0), at(12, 0), source="planned"),  # planned and overdue: now
    ]
    s = status(found)
    assert [t["id"] for t in s["needs_action"]] == ["C", "G", "A", "D", "B", "F"]
    assert s["needs_action_total"] == 6
    by_id = {t["id"]: t for t in s["needs_action"]}
    assert by_id["C"]["overdue_s"] == 60 and by_id["B"]["overdue_s"] is None
    assert by_id["F"]["place"] == "北门 North gate" and by_id["D"]["assignee"] == "李明"
    assert "history" not in by_id["C"]  # a summary; the ticket itself is at /api/tickets/{id}


def test_durations_read_as_people_write_them() -> None:
    assert duration_text(timedelta(minutes=5), "en") == "5 min"
    assert duration_text(timedelta(hours=26, minutes=3), "en") == "1 d 2 h"
    assert duration_text(timedelta(hours=26, minutes=3), "zh") == "1 天 2 小时"


def test_floors_come_from_the_location_text_as_asset_registers_write_them() -> None:
    assert floor_of("1号楼 5层消防箱 B1 5F fire cabinet") == "5F"
    assert floor_of("1号楼 1层大堂 B1 lobby") == "1F"
    assert floor_of("地下2层 泵房") == "B2F"
    assert floor_of("B2F pump room") == "B2F"
    assert floor_of("3号楼天台 B3 roof") is None
    assert floor_of("中心广场 东侧路灯 Plaza east path lamp 1") is None
    assert floor_of(None) is None


def test_the_floor_list_counts_devices_offline_faulty_and_open_tickets_per_zone_and_floor() -> None:
    devices = [
        {"id": "ext-5", "zone": "b1", "location": "1号楼 5层 B1 5F", "online": True, "health_band": "faulty"},
        {"id": "smk-5", "zone": "b1", "location": "1号楼 5层 B1 5F", "online": False, "health_band": "offline"},
        {"id": "pump", "zone": "b1", "location": "地下1层 泵房", "online": True, "health_band": "good"},
        {"id": "roof", "zone": "b1", "location": "1号楼天台", "online": True, "health_band": "good"},
        {"id": "lamp", "zone": "plaza", "location": None, "online": True, "health_band": "good"},
    ]
    tickets = [{"device_id": "ext-5", "zone": "b1", "status": "open"},
               {"device_id": "ext-5", "zone": "b1", "status": "closed"},
               {"device_id": "", "zone": "plaza", "status": "acknowledged"}]
    assert floor_list(devices, tickets) == [
        {"zone": "b1", "devices": 4, "offline": 1, "faulty": 1, "open_tickets": 1, "floors": [
            {"floor": "B1F", "devices": 1, "offline": 0, "faulty": 0, "open_tickets": 0},
            {"floor": "5F", "devices": 2, "offline": 1, "faulty": 1, "open_tickets": 1}]},
        {"zone": "plaza", "devices": 1, "offline": 0, "faulty": 0, "open_tickets": 1, "floors": []},
    ]


SITE = """site: {id: st, name: Status test, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}
mqtt: {url: "mqtt://127.0.0.1:1"}
inventory: assets.csv
tickets:
  sla:
    rules:
      fire.smoke: {respond: 1h, arrive: 1h, resolve: 2h}
"""
ASSETS = """device_id,kind,zone,profile,topic,location
smoke-1,smoke_detector,b1,zigbee2mqtt,zigbee2mqtt/smoke-1,1号楼 5层楼梯间 B1 5F stairs
"""


def test_the_endpoints_answer_red_with_the_reason_and_the_floor_of_the_alarm(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(SITE)
    (tmp_path / "assets.csv").write_text(ASSETS)
    site = FakeSite(tmp_path, datetime(2026, 11, 20, 20, 0, tzinfo=TZ))
    try:
        app = FastAPI()
        app.include_router(make_overview_router(site.gw))
        api = TestClient(app)
        assert api.get("/api/status").json()["level"] == "green"
        site.send("zigbee2mqtt/smoke-1", '{"smoke": true}')
        site.send("zigbee2mqtt/smoke-1", '{"smoke": false}')  # cleared: the ticket waits for a person
        site.at(datetime(2026, 11, 20, 22, 26, tzinfo=TZ))  # due 21:00, 1 h 26 min ago
        body = api.get("/api/status").json()
        assert body["level"] == "red"
        assert [r["code"] for r in body["reasons"]] == ["critical_overdue"]  # a detector's heartbeat is longer
        assert body["reasons"][0]["text_en"].startswith("1 critical overdue 1 h 26 min: ")
        assert body["reasons"][0]["text_en"].endswith(" 1号楼 5层楼梯间 B1 5F stairs")
        assert body["gateway"]["mqtt"] == "disconnected"  # apart from the site's colour
        assert [t["place"] for t in body["needs_action"]] == ["1号楼 5层楼梯间 B1 5F stairs"]
        places = api.get("/api/places").json()
        assert places == [{"zone": "b1", "devices": 1, "offline": 0, "faulty": 0, "open_tickets": 1, "floors": [
            {"floor": "5F", "devices": 1, "offline": 0, "faulty": 0, "open_tickets": 1}]}]
    finally:
        site.stop()
