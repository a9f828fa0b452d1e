"""A device's health comes from its live condition (README, "Health score"), in a whole gateway on a
fake clock: the rules' conditions that hold right now, its connection, its battery and signal.
Open tickets are shown beside it and never decide it.

The site is in Shanghai (31.23 N, 121.47 E). On 20 November 2026 the sun sets near 17:00 and rises
near 06:30 site time, so at 19:00 it is far below the -4 degrees of `lighting.lamp_out` (every lamp
must be lit) and at noon far above the 6 degrees of `lighting.lamp_in_daylight`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from gateway.web.app import create_app
from tests.support.fakesite import FakeSite

TZ = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 11, 20, 19, 0, tzinfo=TZ)
NOON = datetime(2026, 11, 21, 12, 0, tzinfo=TZ)

# lamp-2 is under planned maintenance all night: its faults open no ticket.
SITE = """\
site: {id: t, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}
inventory: assets.csv
patrol: patrol.yaml
timeseries: {embedded: false}
tickets:
  maintenance:
    - {devices: [lamp-2], start: "2026-11-20 12:00", end: "2026-11-21 12:00", reason: relay replacement}
"""
ASSETS = """\
device_id,kind,zone
lamp-1,lamp,north
lamp-2,lamp,north
ext-1,extinguisher,b1
ext-2,extinguisher,b1
cp-gate,checkpoint_reader,north
cp-yard,checkpoint_reader,south
"""
# As in examples/demo-site: a fixed reader's device id is its checkpoint's id.
PATROL = """\
checkpoints:
  - {id: cp-gate, name: 北门 North gate, zone: north, reader: cp-gate}
  - {id: cp-yard, name: 后院 Yard, zone: south, reader: cp-yard}
guards:
  - {id: G017, name: 王强 Wang Qiang, card: "G0017"}
event_cards:
  - {tag: "EV-DOOR", event: door_unlocked, name: 门未锁 Door unlocked, severity: major}
"""

DEAD = '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.003}}'  # relay on, lamp burnt out
LIT = '{"ENERGY": {"Power": 80, "Voltage": 229, "Current": 0.35}}'
ON, OFF = '{"POWER": "ON"}', '{"POWER": "OFF"}'


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "site.yaml").write_text(SITE)
    (tmp_path / "assets.csv").write_text(ASSETS)
    (tmp_path / "patrol.yaml").write_text(PATROL)
    yield tmp_path


@pytest.fixture
def night(folder: Path) -> Iterator[FakeSite]:
    site = FakeSite(folder, NIGHT)
    yield site
    site.stop()


def tickets(site: FakeSite, device: str) -> list[str]:
    return [t.status for t in site.features["tickets"].list(device=device)]


def test_a_dead_lamp_after_dark_is_degraded_at_once_and_faulty_when_its_rule_fires(night: FakeSite) -> None:
    night.send("tele/lamp-1/STATE", ON)
    night.send("tele/lamp-1/SENSOR", DEAD)
    lamp = night.device("lamp-1")
    # Within the rule's 10-minute grace: not a fault yet, and not good either.
    assert lamp["health_band"] == "degraded"
    assert lamp["health_reasons"] == ["current_a 0.003 A < 0.02 A (lighting.lamp_out, minor, pending)"]
    assert 0.5 <= lamp["health"] <= 0.75
    assert tickets(night, "lamp-1") == []
    night.at(NIGHT + timedelta(minutes=10))
    lamp = night.device("lamp-1")
    assert lamp["health_band"] == "faulty"
    assert lamp["health_reasons"] == ["current_a 0.003 A < 0.02 A (lighting.lamp_out, minor, firing)"]
    assert 0.1 <= lamp["health"] <= 0.45
    assert tickets(night, "lamp-1") == ["open"]


def test_a_dead_lamp_whose_ticket_is_muted_by_maintenance_is_still_faulty(night: FakeSite) -> None:
    night.send("tele/lamp-2/STATE", ON)
    night.send("tele/lamp-2/SENSOR", DEAD)
    night.at(NIGHT + timedelta(minutes=11))  # fired at 10 (and the lamp is heard from every 15)
    assert tickets(night, "lamp-2") == []  # muted: the maintenance window holds its ticket back
    lamp = night.device("lamp-2")
    assert lamp["health_band"] == "faulty"
    assert "current_a 0.003 A < 0.02 A (lighting.lamp_out, minor, firing)" in lamp["health_reasons"]


def test_a_lit_lamp_after_dark_is_good(night: FakeSite) -> None:
    night.send("tele/lamp-1/STATE", ON)
    night.send("tele/lamp-1/SENSOR", LIT)
    night.at(NIGHT + timedelta(minutes=30))
    night.send("tele/lamp-1/SENSOR", LIT)
    lamp = night.device("lamp-1")
    assert (lamp["health_band"], lamp["health"], lamp["health_reasons"]) == ("good", 1.0, [])


def test_an_unlit_lamp_at_noon_is_good(folder: Path) -> None:
    site = FakeSite(folder, NOON)
    try:
        site.send("tele/lamp-1/STATE", OFF)
        site.send("tele/lamp-1/SENSOR", '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.000}}')
        site.at(NOON + timedelta(hours=1))
        site.send("tele/lamp-1/SENSOR", '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.000}}')
        lamp = site.device("lamp-1")
        assert (lamp["health_band"], lamp["health"], lamp["health_reasons"]) == ("good", 1.0, [])
    finally:
        site.stop()


def test_a_leaking_extinguisher_is_faulty_and_good_again_once_recharged_while_its_ticket_waits(
        night: FakeSite) -> None:
    night.send("sitegate/t/ext-1/telemetry", '{"pressure_mpa": 1.2}')
    assert night.device("ext-1")["health_band"] == "good"
    night.send("sitegate/t/ext-1/telemetry", '{"pressure_mpa": 0.55}')  # normal is 1.0 to 1.4
    ext = night.device("ext-1")
    assert ext["health_band"] == "faulty"
    assert ext["health_reasons"] == ["pressure_mpa 0.55 MPa < 1 MPa (fire.extinguisher_low, major, firing)"]
    assert 0.1 <= ext["health"] <= 0.45
    assert ext["open_tickets"] == {"major": 1}
    # Recharged: 1.25 MPa is above the rule's clear (1.1). Its ticket waits for a person to resolve
    # it, but the extinguisher itself is fine again.
    night.at(NIGHT + timedelta(hours=1))
    night.send("sitegate/t/ext-1/telemetry", '{"pressure_mpa": 1.25}')
    ext = night.device("ext-1")
    assert (ext["health_band"], ext["health"], ext["health_reasons"]) == ("good", 1.0, [])
    assert ext["open_tickets"] == {"major": 1}
    assert tickets(night, "ext-1") == ["open"]


def test_an_extinguisher_latched_below_its_clear_says_what_it_waits_for(night: FakeSite) -> None:
    night.send("sitegate/t/ext-1/telemetry", '{"pressure_mpa": 0.9}')
    night.send("sitegate/t/ext-1/telemetry", '{"pressure_mpa": 1.05}')  # above 1.0, not yet above 1.1
    ext = night.device("ext-1")
    assert ext["health_band"] == "faulty"
    assert ext["health_reasons"] == [
        "pressure_mpa 1.05 MPa, not yet > 1.1 MPa (fire.extinguisher_low, major, firing)"]


def test_a_device_whose_availability_says_offline_is_offline(night: FakeSite) -> None:
    night.send("sitegate/t/ext-2/status", "online")
    night.send("sitegate/t/ext-2/telemetry", '{"pressure_mpa": 1.2}')
    assert night.device("ext-2")["health_band"] == "good"
    night.at(NIGHT + timedelta(minutes=1))
    night.send("sitegate/t/ext-2/status", "offline")
    ext = night.device("ext-2")
    assert (ext["health_band"], ext["health"]) == ("offline", 0.0)
    assert ext["health_reasons"][0] == "offline (its availability says so)"


def test_open_ticket_counts_follow_each_ticket_change_on_the_gateways_clock(night: FakeSite) -> None:
    # Replay and the fake clock run far faster than real time: counts refreshed every few real
    # seconds would show a ticket minutes of site time late.
    night.send("tele/lamp-1/STATE", ON)
    night.send("tele/lamp-1/SENSOR", DEAD)
    night.at(NIGHT + timedelta(minutes=10))
    assert night.device("lamp-1")["open_tickets"] == {"minor": 1}
    [ticket] = night.features["tickets"].list(device="lamp-1")
    night.features["tickets"].act(ticket.id, "resolve", actor="tester", note="new lamp",
                                  now=NIGHT + timedelta(minutes=20))
    assert night.device("lamp-1")["open_tickets"] == {}


def test_a_reader_named_like_its_checkpoint_stays_good_through_taps_and_guards_reports(
        night: FakeSite) -> None:
    # cp-gate says it is online (retained status, offline will) and only sends taps; a guard reports
    # an unlocked door at its checkpoint, which opens a ticket on "cp-gate", the checkpoint.
    night.send("sitegate/t/cp-gate/status", "online")
    night.send("sitegate/t/cp-gate/tap", '{"tag": "G0017"}')
    night.send("sitegate/t/cp-gate/tap", '{"tag": "EV-DOOR"}')
    assert tickets(night, "cp-gate") == ["open"]
    for hours in (0, 3, 7):  # hours after the last tap: connected, so neither stale nor silent
        night.at(NIGHT + timedelta(hours=hours))
        reader = night.device("cp-gate")
        assert (reader["online"], reader["health_band"], reader["health"], reader["health_reasons"]) == (
            True, "good", 1.0, [])
    # cp-yard has no status topic: its taps are its only sign of life.
    night.send("sitegate/t/cp-yard/tap", '{"tag": "G0017"}')
    reader = night.device("cp-yard")
    assert reader["online"] is True
    assert datetime.fromisoformat(reader["last_seen"]) == NIGHT + timedelta(hours=7)
    assert (reader["health_band"], reader["health"]) == ("good", 1.0)
    night.at(NIGHT + timedelta(hours=7, minutes=40))  # heartbeat 1 h: getting stale, still good
    reader = night.device("cp-yard")
    assert reader["health_band"] == "good" and 0.8 <= reader["health"] < 1.0
    night.send("sitegate/t/cp-yard/tap", '{"tag": "G0017"}')
    assert night.device("cp-yard")["health"] == 1.0


def test_the_devices_api_gives_health_its_band_and_its_reasons(night: FakeSite) -> None:
    night.send("tele/lamp-1/STATE", ON)
    night.send("tele/lamp-1/SENSOR", DEAD)
    night.send("sitegate/t/ext-1/telemetry", '{"pressure_mpa": 1.2}')
    night.at(NIGHT + timedelta(minutes=10))
    api = TestClient(create_app(night.gw))  # no lifespan: the test drives the gateway by hand
    devices = {d["id"]: d for d in api.get("/api/devices").json()}
    assert (devices["lamp-1"]["health_band"], devices["lamp-1"]["health_reasons"]) == (
        "faulty", ["current_a 0.003 A < 0.02 A (lighting.lamp_out, minor, firing)"])
    assert isinstance(devices["lamp-1"]["health"], float) and devices["lamp-1"]["health"] <= 0.45
    assert (devices["ext-1"]["health_band"], devices["ext-1"]["health"], devices["ext-1"]["health_reasons"]) == (
        "good", 1.0, [])
    one = api.get("/api/devices/lamp-1").json()
    assert (one["health"], one["health_band"], one["health_reasons"], one["open_tickets"]) == (
        devices["lamp-1"]["health"], "faulty", devices["lamp-1"]["health_reasons"], {"minor": 1})


def test_a_fault_shows_right_after_a_restart_before_the_device_says_anything_new(folder: Path) -> None:
    site = FakeSite(folder, NIGHT)
    site.send("tele/lamp-1/STATE", ON)
    site.send("tele/lamp-1/SENSOR", DEAD)
    site.at(NIGHT + timedelta(minutes=10))
    before = site.device("lamp-1")
    site.stop()
    again = FakeSite(folder, NIGHT + timedelta(minutes=11))  # the rules' snapshot brings it back
    try:
        lamp = again.device("lamp-1")
        assert (lamp["health_band"], lamp["health_reasons"]) == ("faulty", before["health_reasons"])
    finally:
        again.stop()
