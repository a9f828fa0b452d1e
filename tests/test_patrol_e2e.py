"""A night of patrol through real mosquitto on an accelerated site clock, checked over the API."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from gateway.app.simulator.engine import SiteClock
from gateway.ingest.gateway import Gateway
from tests.support.inprocess import site_gateway
from tests.support.mosquitto import Broker

TZ = ZoneInfo("Asia/Shanghai")
SPEED = 240.0  # one real second is four site minutes

PLAN = """
checkpoints:
  - {id: cp-a, name: 北门 North gate, zone: north, reader: cp-a}
  - {id: cp-b, name: 天台 Roof, zone: b1, tag: "04AA0001"}
  - {id: cp-c, name: 车库 Garage, zone: garage, reader: cp-c}
guards:
  - {id: G017, name: 王强 Wang Qiang, card: "G0017", reader: hh-07}
routes:
  - id: north
    ordered: true
    schedule: "0,40 20 * * *"
    start_grace: 2m
    limit: 30m
    checkpoints:
      - {id: cp-a, at: 0m, tolerance: 3m}
      - {id: cp-b, at: 10m, tolerance: 3m}
      - {id: cp-c, at: 20m, tolerance: 3m}
"""


@pytest.fixture
def night(broker: Broker, tmp_path: Path) -> Iterator[tuple[Gateway, SiteClock, TestClient]]:
    (tmp_path / "patrol.yaml").write_text(PLAN)
    (tmp_path / "site.yaml").write_text(
        "site: {id: e2e, name: 测试 Test, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}\n"
        f"mqtt: {{url: \"{broker.url}\"}}\npatrol: patrol.yaml\ntimeseries: {{embedded: true}}\n")
    start = datetime.now(TZ).replace(hour=19, minute=59, second=0, microsecond=0)
    with site_gateway(tmp_path / "site.yaml", tmp_path / "data", start=start, speed=SPEED) as running:
        yield running


def test_a_night_of_two_rounds_gives_exact_figures_acks_and_a_missed_checkpoint_ticket(
        broker: Broker, night: tuple[Gateway, SiteClock, TestClient]) -> None:
    gw, clock, api = night
    acks: queue.Queue[dict[str, object]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-guard")
    client.on_message = lambda _c, _u, m: acks.put(orjson.loads(m.payload))
    client.connect("127.0.0.1", broker.port)
    client.subscribe("sitegate/e2e/+/ack", 1)
    client.loop_start()
    day = clock.now().date()

    def at(hh: int, mm: int, ss: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=TZ)

    def tap(when: datetime, reader: str, tag: str) -> dict[str, object]:
        while clock.now() < when:  # the guard arrives when the site clock says so
            time.sleep(0.005)
        client.publish(f"sitegate/e2e/{reader}/tap", orjson.dumps({"tag": tag, "ts": when.isoformat()}), qos=1)
        return acks.get(timeout=5)

    # Round 1 (20:00): all three on time, plus a repeat and a stranger's card.
    assert tap(at(20, 1), "cp-a", "G0017")["result"] == "ok"
    assert tap(at(20, 1, 10), "cp-a", "G0017")["result"] == "duplicate"
    assert tap(at(20, 2), "cp-a", "BADCARD")["result"] == "unknown_tag"
    assert tap(at(20, 11), "hh-07", "04AA0001")["result"] == "ok"
    first = tap(at(20, 21), "cp-c", "G0017")
    assert (first["result"], first["checkpoint"], first["route"]) == ("ok", "cp-c", "north")
    # Round 2 (20:40): the roof is skipped, the garage is reached late.
    assert tap(at(20, 41), "cp-a", "G0017")["result"] == "ok"
    assert tap(at(21, 5), "cp-c", "G0017")["result"] == "late"
    # Nothing scheduled at 21:30.
    assert tap(at(21, 30), "cp-a", "G0017")["result"] == "off_schedule"
    client.loop_stop()
    client.disconnect()

    rounds = {r["scheduled_start"][11:16]: r for r in api.get("/api/patrol/rounds",
                                                               params={"date": day.isoformat()}).json()}
    one, two = rounds["20:00"], rounds["20:40"]
    assert (one["status"], one["expected"], one["visited"], one["late"], one["missed"], one["coverage"]) == (
        "completed", 3, 3, 0, [], 1.0)
    assert (two["status"], two["expected"], two["visited"], two["late"], two["missed"]) == (
        "incomplete", 3, 2, 1, ["cp-b"])
    assert two["coverage"] == pytest.approx(2 / 3)

    tickets = api.get("/api/tickets", params={"device": "cp-b"}).json()
    assert [(t["rule"], t["zone"], t["status"]) for t in tickets] == [("patrol.missed_checkpoint", "b1", "open")]
    assert gw.clock.now() - at(21, 30) < timedelta(minutes=30)
