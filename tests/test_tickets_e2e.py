"""Faults through real mosquitto become tickets with the right SLA, owner and dedup, over the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from gateway.app.replay import replay
from gateway.core.clock import SiteClock
from gateway.core.siteload import load_site
from gateway.ingest.gateway import Gateway
from gateway.tickets.service import TicketService
from gateway.tickets.store import Tx
from tests.support.gateway_proc import wait_for
from tests.support.inprocess import site_gateway
from tests.support.mosquitto import Broker

TZ = ZoneInfo("Asia/Shanghai")
SPEED = 120.0  # one real second is two site minutes

ASSETS = """device_id,kind,zone,owner,circuit
ext-1,extinguisher,b1,,
lamp-1,lamp,north,,AL1-W1
smoke-1,smoke_detector,b2,,
door-1,fire_door,b3,,
"""

SITE = """site: {{id: e2e, name: 测试 Test, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}}
mqtt: {{url: "{url}"}}
inventory: assets.csv
tickets:
  owners:
    zones: {{b1: 1号楼 B1 team, north: 北区 North team}}
    default: 工程部 Engineering
"""


@pytest.fixture
def site_gw(broker: Broker, tmp_path: Path) -> Iterator[tuple[Gateway, SiteClock, TestClient]]:
    (tmp_path / "assets.csv").write_text(ASSETS)
    (tmp_path / "site.yaml").write_text(SITE.format(url=broker.url))
    # 19:00 in Shanghai in late November: long after dusk, lamps must be lit. A fixed date: the site
    # clock is the gateway's only clock, so the test means the same whatever today's date and season.
    start = datetime(2026, 11, 20, 19, 0, tzinfo=TZ)
    with site_gateway(tmp_path / "site.yaml", tmp_path / "data", start=start, speed=SPEED) as running:
        yield running


def open_ticket(api: TestClient, rule: str, device: str) -> dict[str, Any] | None:
    found = [t for t in api.get("/api/tickets", params={"device": device}).json()
             if t["rule"] == rule and t["status"] in ("open", "acknowledged")]
    assert len(found) <= 1, f"duplicate open tickets for {rule} on {device}: {found}"
    return found[0] if found else None


def test_faults_open_tickets_once_with_sla_owner_and_follow_their_lifecycle(
        broker: Broker, site_gw: tuple[Gateway, SiteClock, TestClient]) -> None:
    _gw, clock, api = site_gw
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-devices")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()

    def send(topic: str, payload: str) -> None:
        pub.publish(topic, payload.encode(), qos=1).wait_for_publish(5)

    # A pressure drop that recovers and drops again (one ticket, two occurrences), a lamp that is on
    # but draws nothing after dusk, a detector whose availability says offline, a fire door left open.
    send("sitegate/e2e/ext-1/telemetry", '{"pressure_mpa": 1.21}')
    send("sitegate/e2e/ext-1/telemetry", '{"pressure_mpa": 0.82}')
    send("sitegate/e2e/ext-1/telemetry", '{"pressure_mpa": 1.15}')
    send("sitegate/e2e/ext-1/telemetry", '{"pressure_mpa": 0.79}')
    send("tele/lamp-1/STATE", '{"POWER": "ON"}')
    send("tele/lamp-1/SENSOR", '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.000}}')
    send("zigbee2mqtt/smoke-1", '{"smoke": false, "battery": 80}')
    send("zigbee2mqtt/smoke-1/availability", '{"state": "offline"}')
    send("zigbee2mqtt/door-1", '{"contact": false, "battery": 90}')

    ext = wait_for(lambda: open_ticket(api, "fire.extinguisher_low", "ext-1"), 10, "extinguisher ticket")
    assert (ext["severity"], ext["zone"], ext["assignee"]) == ("major", "b1", "1号楼 B1 team")
    opened = datetime.fromisoformat(ext["opened_at"])
    assert datetime.fromisoformat(ext["due_at"]) - opened == timedelta(hours=2)  # normal response: 2 h
    again = wait_for(lambda: (open_ticket(api, "fire.extinguisher_low", "ext-1") or {}).get("occurrences") == 2
                       and open_ticket(api, "fire.extinguisher_low", "ext-1"), 10, "the repeat as an occurrence")
    assert again["id"] == ext["id"]

    # Timed rules fire on the site clock: lamp out after 10 min, offline after 5 min, door after 300 s.
    lamp = wait_for(lambda: open_ticket(api, "lighting.lamp_out", "lamp-1"), 30, "lamp ticket")
    assert (lamp["severity"], lamp["assignee"]) == ("minor", "北区 North team")
    assert datetime.fromisoformat(lamp["due_at"]) - datetime.fromisoformat(lamp["opened_at"]) == timedelta(hours=24)
    smoke = wait_for(lambda: open_ticket(api, "health.offline", "smoke-1"), 30, "offline ticket")
    assert smoke["assignee"] == "工程部 Engineering"
    door = wait_for(lambda: open_ticket(api, "fire.door_held_open", "door-1"), 30, "door ticket")
    assert door["severity"] == "major"

    # An engineer acknowledges over the API; the history keeps who, when and the note.
    acked = api.post(f"/api/tickets/{ext['id']}/ack", json={"note": "on my way 马上到"}).json()
    assert acked["status"] == "acknowledged"
    assert acked["history"][-1]["note"] == "on my way 马上到"
    assert api.post(f"/api/tickets/{ext['id']}/close", json={"note": "too early"}).status_code == 409

    # The door is closed: that rule resolves its ticket by itself.
    send("zigbee2mqtt/door-1", '{"contact": true, "battery": 90}')
    wait_for(lambda: api.get(f"/api/tickets/{door['id']}").json()["status"] == "resolved", 10, "door resolved")

    # /metrics counts the active tickets by severity as the list does (none overdue an hour in), with
    # every severity present so an alert rule never sees a gap.
    active = [t for t in api.get("/api/tickets").json() if t["status"] in ("open", "acknowledged")]
    assert {ext["id"], lamp["id"], smoke["id"]} <= {t["id"] for t in active}
    scraped = api.get("/metrics").text
    for severity in ("critical", "major", "minor", "warning"):
        n = sum(1 for t in active if t["severity"] == severity)
        assert f'sitegate_tickets_open{{severity="{severity}"}} {n:.1f}' in scraped, scraped
        assert f'sitegate_tickets_overdue{{severity="{severity}"}} 0.0' in scraped
    pub.loop_stop()
    pub.disconnect()
    assert clock.now().hour >= 19


def consumer_errors(api: TestClient, consumer: str) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(f'sitegate_consumer_errors_total{{consumer="{consumer}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_a_ticket_store_that_fails_for_a_while_holds_intake_says_why_and_loses_no_alert(
        broker: Broker, site_gw: tuple[Gateway, SiteClock, TestClient]) -> None:
    gw, _clock, api = site_gw
    tickets: TicketService = gw.features["tickets"]
    real_write = tickets.store.write
    locked = threading.Event()
    locked.set()

    @contextmanager
    def write() -> Iterator[Tx]:
        if locked.is_set():
            raise TimeoutError("tickets database is locked")
        with real_write() as tx:
            yield tx

    tickets.store.write = write  # type: ignore[method-assign]
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-failing-store")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        pub.publish("zigbee2mqtt/smoke-1", b'{"smoke": true, "battery": 80}', qos=1).wait_for_publish(5)
        health = wait_for(lambda: (h := api.get("/api/health").json())["status"] == "degraded" and h, 10,
                          "health to say why")
        assert any("consumer tickets" in p and "tickets database is locked" in p for p in health["problems"])
        pub.publish("sitegate/e2e/ext-1/telemetry", b'{"pressure_mpa": 0.8}', qos=1).wait_for_publish(5)
        wait_for(lambda: consumer_errors(api, "tickets") >= 4, 10, "retries with backoff")
        # Intake is held: the extinguisher's message waits at the broker, unacked, not in the registry.
        assert api.get("/api/devices/ext-1").json()["metrics"] == {}
        assert api.get("/api/tickets").json() == []
        locked.clear()
        smoke = wait_for(lambda: open_ticket(api, "fire.smoke", "smoke-1"), 10, "the smoke ticket")
        ext = wait_for(lambda: open_ticket(api, "fire.extinguisher_low", "ext-1"), 10, "the extinguisher ticket")
        assert smoke["occurrences"] == 1 and ext["occurrences"] == 1  # nothing doubled by the retries
        wait_for(lambda: api.get("/api/health").json()["status"] == "ok", 10, "health to recover")
    finally:
        tickets.store.write = real_write  # type: ignore[method-assign]
        pub.loop_stop()
        pub.disconnect()


def test_rules_of_the_built_in_pack_that_describe_one_fault_open_one_ticket(tmp_path: Path) -> None:
    """Through decode, the real rule pack and the ticket service (replayed on the recorded clock): an
    extinguisher leaking fast trips both the leak and the low-pressure rule, a detector that drops
    off the network trips both offline and silent. One fault each, so one ticket each."""
    (tmp_path / "assets.csv").write_text("device_id,kind,zone\next-1,extinguisher,b1\ndet-1,smoke_detector,b2\n")
    (tmp_path / "site.yaml").write_text(
        "site: {id: demo, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}\n"
        "inventory: assets.csv\ndevices: {heartbeat: {smoke_detector: 30m}}\n")
    start = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)
    lines = [(start, "sitegate/demo/det-1/telemetry", '{"smoke": false}'),
             (start + timedelta(minutes=1), "sitegate/demo/det-1/status", "offline")]
    for half_hours in range(11):  # 1.30 MPa falling 0.1 MPa an hour, to 0.80: leaking, then low
        lines.append((start + half_hours * timedelta(minutes=30), "sitegate/demo/ext-1/telemetry",
                      f'{{"pressure_mpa": {1.30 - 0.05 * half_hours:.2f}}}'))
    capture = tmp_path / "capture.jsonl"
    capture.write_text("".join(orjson.dumps({"ts": ts.isoformat(), "topic": topic, "payload": payload}).decode()
                               + "\n" for ts, topic, payload in sorted(lines)))
    tickets = replay(capture, load_site(tmp_path / "site.yaml"), until=start + timedelta(hours=6)).tickets
    by_device = {t["device_id"]: [u for u in tickets if u["device_id"] == t["device_id"]] for t in tickets}
    assert sorted(by_device) == ["det-1", "ext-1"]
    [ext] = by_device["ext-1"]
    assert ext["severity"] == "major" and ext["occurrences"] == 2  # the leak (minor), then the red zone
    [det] = by_device["det-1"]
    assert det["labels"]["fault"] == "no_contact" and det["occurrences"] == 2


PATROL = """checkpoints:
  - {id: cp-path-1, name: 小路 Garden path, zone: north, reader: cp-path-1, device: lamp-1}
guards:
  - {id: G017, name: 王强 Wang Qiang, card: "G0017"}
event_cards:
  - {tag: "EV-LAMP", event: lamp_out, name: 路灯不亮 Lamp out}
"""


def test_a_guards_lamp_out_card_and_the_lamp_out_rule_at_the_same_lamp_are_one_ticket(
        broker: Broker, tmp_path: Path) -> None:
    (tmp_path / "assets.csv").write_text(ASSETS)
    (tmp_path / "patrol.yaml").write_text(PATROL)
    (tmp_path / "site.yaml").write_text(SITE.format(url=broker.url) + "patrol: patrol.yaml\n")
    start = datetime.now(TZ).replace(hour=19, minute=0, second=0, microsecond=0)  # after dusk
    with site_gateway(tmp_path / "site.yaml", tmp_path / "data", start=start, speed=SPEED) as (_gw, _clock, api):
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-lamp-and-guard")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        try:
            for topic, payload in [("tele/lamp-1/STATE", '{"POWER": "ON"}'),
                                   ("tele/lamp-1/SENSOR", '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.000}}'),
                                   # The guard sees it first: card on the path's reader, then the event card.
                                   ("sitegate/e2e/cp-path-1/tap", '{"tag": "G0017"}'),
                                   ("sitegate/e2e/cp-path-1/tap", '{"tag": "EV-LAMP"}')]:
                pub.publish(topic, payload.encode(), qos=1).wait_for_publish(5)
            reported = wait_for(lambda: api.get("/api/tickets", params={"device": "lamp-1"}).json(), 10,
                                "the guard's ticket")
            assert [(h["actor"], h["action"]) for h in reported[0]["history"]] == [("G017", "opened")]
            # Ten site minutes later the lamp's own rule fires: on the same ticket, not a second one.
            both = wait_for(lambda: [t for t in api.get("/api/tickets", params={"device": "lamp-1"}).json()
                                     if t["occurrences"] == 2], 30, "the rule's firing on the guard's ticket")
            assert [t["id"] for t in api.get("/api/tickets", params={"device": "lamp-1"}).json()] == \
                [reported[0]["id"]] == [both[0]["id"]]
        finally:
            pub.loop_stop()
            pub.disconnect()


BOARD_ASSETS = """device_id,kind,zone,profile,topic,location,owner,circuit
meter-al5,power_meter,perimeter,tasmota,tele/meter-al5/SENSOR,照明箱AL5 Board AL5,,AL5
lamp-n1,lamp,perimeter,tasmota,tele/lamp-n1/SENSOR,北段 North 1,,AL5-WL1
lamp-s1,lamp,perimeter,tasmota,tele/lamp-s1/SENSOR,南段 South 1,,AL5-WL2
lamp-s2,lamp,perimeter,tasmota,tele/lamp-s2/SENSOR,南段 South 2,,AL5-WL2
"""

BOARD_SITE = """site: {id: demo, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}
inventory: assets.csv
tickets:
  inhibit:
    - {source_rule: lighting.circuit_outage, target_rules: ["lighting.*", "health.offline", "health.silent"],
       equal: [circuit]}
"""


def board_night(tmp_path: Path, *, meter_every: timedelta, trip: datetime, lamps_down: list[str],
                dead_way: int, until: datetime, meter_offset: timedelta = timedelta(0),
                back: datetime | None = None) -> list[dict[str, Any]]:
    """A night of board AL5 replayed through decode, the built-in pack and the ticket service: its lamps
    lit from 20:00, its meter reporting both ways every `meter_every` (from 20:00 + `meter_offset`),
    and at `trip` the breaker of way `dead_way` trips: those lamps drop off the network and the
    meter's channel reads 0 A, until the breaker is closed again at `back`."""
    def down(at: datetime) -> bool:
        return trip <= at and (back is None or at < back)

    (tmp_path / "assets.csv").write_text(BOARD_ASSETS)
    (tmp_path / "site.yaml").write_text(BOARD_SITE)
    start = trip.replace(hour=20, minute=0) - timedelta(days=1 if trip.hour < 20 else 0)
    lines = [(start, f"tele/{lamp}/LWT", "Online") for lamp in ("lamp-n1", "lamp-s1", "lamp-s2")]
    at = start
    while at <= until:
        for lamp in ("lamp-n1", "lamp-s1", "lamp-s2"):
            if not (lamp in lamps_down and down(at)):
                lines.append((at, f"tele/{lamp}/SENSOR", '{"ENERGY": {"Power": 35, "Current": 0.160}}'))
        at += timedelta(minutes=5)
    at = start + meter_offset
    while at <= until:
        amps = [0.0 if dead_way == 1 else 0.16, 0.0 if dead_way == 2 else 0.32] if down(at) else [0.16, 0.32]
        lines.append((at, "tele/meter-al5/SENSOR", orjson.dumps({"ENERGY": {"Current": amps}}).decode()))
        at += meter_every
    lines += [(trip, f"tele/{lamp}/LWT", "Offline") for lamp in lamps_down]
    if back is not None:
        lines += [(back, f"tele/{lamp}/LWT", "Online") for lamp in lamps_down]
    capture = tmp_path / "capture.jsonl"
    capture.write_text("".join(orjson.dumps({"ts": ts.isoformat(), "topic": topic, "payload": payload}).decode()
                               + "\n" for ts, topic, payload in sorted(lines)))
    return replay(capture, load_site(tmp_path / "site.yaml"), until=until).tickets


def test_a_trip_on_way_2_of_a_board_is_one_ticket_naming_its_circuit_that_mutes_only_that_ways_lamps(
        tmp_path: Path) -> None:
    trip = datetime(2026, 11, 21, 1, 10, tzinfo=TZ)
    # The meter reports every 150 s, one report at the trip: its ticket opens two minutes later
    # (01:12), before the lamps' offline alerts (01:15), which it then mutes.
    tickets = board_night(tmp_path, meter_every=timedelta(seconds=150), trip=trip, lamps_down=["lamp-s1", "lamp-s2"],
                          dead_way=2, until=trip + timedelta(minutes=30))
    [outage] = tickets
    assert (outage["rule"], outage["device_id"], outage["severity"]) == (
        "lighting.circuit_outage", "meter-al5", "major")
    assert outage["labels"]["circuit"] == "AL5-WL2" and outage["labels"]["channel"] == "2"
    assert outage["title"] == "照明回路停电 Lighting circuit without power: AL5-WL2 (meter-al5 way 2)"
    assert outage["opened_at"] == "2026-11-21T01:12:00+08:00"
    # Muted: lamp-s1 and lamp-s2 (offline at 01:15, silent at 01:25); lamp-n1 on way 1 was never down.
    muted = [h["note"].split(":")[0] for h in outage["history"] if h["action"] == "suppressed"]
    assert muted == ["muted health.offline on lamp-s1", "muted health.offline on lamp-s2"]
    assert outage["suppressed"] == 4


def test_a_detector_whose_battery_dies_goes_silent_and_offline_on_one_ticket(tmp_path: Path) -> None:
    """The simulator's battery_dies script through decode, the built-in pack and the ticket service:
    battery low at 19:00, nothing after 20:00, offline at 22:30, a new battery at 09:30."""
    (tmp_path / "assets.csv").write_text("device_id,kind,zone,profile,topic\n"
                                         "smk-1,smoke_detector,b2,zigbee2mqtt,zigbee2mqtt/smk-1\n")
    (tmp_path / "site.yaml").write_text(
        "site: {id: demo, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}\ninventory: assets.csv\n")
    day = datetime(2026, 11, 20, 18, 0, tzinfo=TZ)
    lines = [(day, "zigbee2mqtt/smk-1/availability", '{"state": "online"}'),
             (day, "zigbee2mqtt/smk-1", '{"battery": 31, "battery_low": false, "smoke": false}'),
             (day + timedelta(hours=1), "zigbee2mqtt/smk-1", '{"battery": 4, "battery_low": true, "smoke": false}'),
             (day + timedelta(hours=2), "zigbee2mqtt/smk-1", '{"battery": 4, "battery_low": true, "smoke": false}'),
             (day + timedelta(hours=4, minutes=30), "zigbee2mqtt/smk-1/availability", '{"state": "offline"}'),
             (day + timedelta(hours=15, minutes=30), "zigbee2mqtt/smk-1/availability", '{"state": "online"}'),
             (day + timedelta(hours=15, minutes=30), "zigbee2mqtt/smk-1",
              '{"battery": 100, "battery_low": false, "smoke": false}')]
    capture = tmp_path / "capture.jsonl"
    capture.write_text("".join(orjson.dumps({"ts": ts.isoformat(), "topic": topic, "payload": payload}).decode()
                               + "\n" for ts, topic, payload in lines))
    tickets = replay(capture, load_site(tmp_path / "site.yaml"), until=day + timedelta(hours=16)).tickets
    [t] = tickets
    assert (t["rule"], t["device_id"], t["status"]) == ("fire.battery_low", "smk-1", "resolved")
    assert [(h["at"][11:16], h["action"]) for h in t["history"]] == [
        ("19:30", "opened"),       # battery_low for its 30 min grace
        ("22:35", "joined"),       # offline for 5 min
        ("04:30", "joined"),       # silent for the kind's 6 h heartbeat (online by its status until 22:30)
        ("09:30", "condition_cleared"), ("09:30", "resolved")]
    assert t["history"][1]["note"].startswith("health.offline on smk-1: 设备离线 Device offline: smk-1")


def test_an_outage_seen_after_its_lamps_went_offline_still_ends_as_one_ticket(tmp_path: Path) -> None:
    trip = datetime(2026, 11, 21, 1, 10, tzinfo=TZ)
    # The meter's report period puts its first 0 A at 01:14: the outage fires at 01:16, after the
    # lamps' offline tickets (01:15). Those fold into it; the breaker is closed again at 01:50.
    tickets = board_night(tmp_path, meter_every=timedelta(minutes=5), meter_offset=timedelta(minutes=4), trip=trip,
                          lamps_down=["lamp-s1", "lamp-s2"], dead_way=2, until=trip + timedelta(hours=1),
                          back=trip + timedelta(minutes=40))
    by_id = {t["id"]: t for t in tickets}
    assert sorted((t["id"], t["rule"], t["device_id"], t["status"]) for t in tickets) == [
        ("T-000001", "health.offline", "lamp-s1", "cancelled"),
        ("T-000002", "health.offline", "lamp-s2", "cancelled"),
        ("T-000003", "lighting.circuit_outage", "meter-al5", "resolved")]
    outage = by_id["T-000003"]
    assert outage["opened_at"] == "2026-11-21T01:16:00+08:00"
    # Folded at 01:16; the same lamps' silence at 01:25 is muted and counted on it, not logged again.
    assert [h["action"] for h in outage["history"]] == ["opened", "folded", "folded", "condition_cleared",
                                                        "resolved"]
    assert outage["suppressed"] == 4
    for lamp in ("T-000001", "T-000002"):
        last = by_id[lamp]["history"][-1]
        assert (last["at"], last["action"]) == ("2026-11-21T01:16:00+08:00", "cancelled")
        assert last["note"].startswith("caused by T-000003: 照明回路停电 Lighting circuit without power: AL5-WL2")
    active = [t for t in tickets if t["status"] in ("open", "acknowledged")]
    assert active == []  # and none opened again when the lamps came back
