"""A night of patrol through real mosquitto on an accelerated site clock, checked over the API; and an
unpatrolled night of the demo site through the patrol consumer into the real ticket store."""

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

from gateway.app.features import attach_features
from gateway.core.clock import FakeClock, SiteClock
from gateway.core.model import Inbound
from gateway.core.paths import demo_site_dir
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.patrol.consumer import PatrolConsumer
from gateway.patrol.model import load_plan
from gateway.patrol.tracker import PatrolTracker
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore
from gateway.timeseries.point import Point
from tests.support.gateway_proc import wait_for
from tests.support.inprocess import site_gateway
from tests.support.mosquitto import Broker

TZ = ZoneInfo("Asia/Shanghai")
SPEED = 240.0  # one real second is four site minutes

PLAN = """
checkpoints:
  - {id: cp-a, name: 北门 North gate, zone: north, reader: cp-a}
  - {id: cp-b, name: 天台 Roof, zone: b1, tag: "04AA0001"}
  - {id: cp-c, name: 车库 Garage, zone: garage, reader: cp-c}
  - {id: cp-d, name: 东门 East gate, zone: east, reader: cp-d}
  - {id: cp-e, name: 东围墙 East fence, zone: perimeter, tag: "04AA0002"}
guards:
  - {id: G017, name: 王强 Wang Qiang, card: "G0017", reader: hh-07}
routes:
  - id: north
    ordered: true
    schedule: "0,40 20 * * *"
    start_grace: 2m
    limit: 25m
    checkpoints:
      - {id: cp-a, at: 0m, tolerance: 5m}
      - {id: cp-b, at: 6m, tolerance: 3m}
      - {id: cp-c, at: 16m, tolerance: 3m}
  - id: east
    ordered: true
    schedule: "20 21 * * *"
    start_grace: 2m
    limit: 15m
    checkpoints:
      - {id: cp-d, at: 0m, tolerance: 3m}
      - {id: cp-e, at: 10m, tolerance: 3m}
"""


@pytest.fixture
def night(broker: Broker, tmp_path: Path) -> Iterator[tuple[Gateway, SiteClock, TestClient]]:
    (tmp_path / "patrol.yaml").write_text(PLAN)
    (tmp_path / "site.yaml").write_text(
        "site: {id: e2e, name: 测试 Test, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}\n"
        f"mqtt: {{url: \"{broker.url}\"}}\npatrol: patrol.yaml\ntimeseries: {{embedded: true}}\n")
    start = datetime(2026, 11, 20, 19, 59, tzinfo=TZ)  # a fixed night: the site clock is the gateway's only clock
    with site_gateway(tmp_path / "site.yaml", tmp_path / "data", start=start, speed=SPEED) as running:
        yield running


def test_a_night_of_three_rounds_gives_exact_figures_acks_points_and_one_ticket_per_round(
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

    # north 20:00: all three on time, plus a repeat and a stranger's card.
    assert tap(at(20, 1), "cp-a", "G0017")["result"] == "ok"
    assert tap(at(20, 1, 10), "cp-a", "G0017")["result"] == "duplicate"
    assert tap(at(20, 2), "cp-a", "BADCARD")["result"] == "unknown_tag"
    assert tap(at(20, 7), "hh-07", "04AA0001")["result"] == "ok"
    first = tap(at(20, 17), "cp-c", "G0017")
    assert (first["result"], first["checkpoint"], first["route"]) == ("ok", "cp-c", "north")
    # north 20:40: the guard walks past the gate (its window is open until 20:47 at the latest), taps
    # the roof 6 min in (so the round started 20:40: roof window 20:43-20:49, garage 20:53-20:59)
    # and reaches the garage 1 min after its window.
    roof = tap(at(20, 46), "hh-07", "04AA0001")
    assert (roof["result"], roof["round"]) == ("ok", f"north@{day.isoformat()}T20:40+08:00")
    assert tap(at(21, 0), "cp-c", "G0017")["result"] == "late"
    # east 21:20: nobody walks it. Nothing is scheduled on north at 21:30.
    assert tap(at(21, 30), "cp-a", "G0017")["result"] == "off_schedule"
    client.loop_stop()
    client.disconnect()

    def rounds() -> dict[str, dict[str, object]]:
        found = api.get("/api/patrol/rounds", params={"date": day.isoformat()}).json()
        return {f"{r['route']} {r['scheduled_start'][11:16]}": r for r in found}

    # east ends at 21:37 (21:22 + 15m, nobody started it): wait for the tracker to close it.
    wait_for(lambda: rounds()["east 21:20"]["status"] == "incomplete", 15, "the east round to end")
    views = rounds()
    truth = {  # status, expected, visited, late, missed, coverage
        "north 20:00": ("completed", 3, 3, 0, [], 1.0),
        "north 20:40": ("incomplete", 3, 2, 1, ["cp-a"], pytest.approx(2 / 3)),
        "east 21:20": ("incomplete", 2, 0, 0, ["cp-d", "cp-e"], 0.0),
    }
    assert {k: (v["status"], v["expected"], v["visited"], v["late"], v["missed"], v["coverage"])
            for k, v in views.items()} == truth

    # patrol_round points, written at each round's scheduled start, carry the same figures.
    starts = {k: datetime.fromisoformat(str(v["scheduled_start"])) for k, v in views.items()}

    def series(field: str) -> dict[datetime, float]:
        points = api.get("/api/series", params={"measurement": "patrol_round", "field": field,
                                                "from": at(19, 0).isoformat(), "to": at(23, 0).isoformat()})
        return {datetime.fromisoformat(ts): value for ts, value in points.json()["points"]}

    fields = {"expected": 1, "visited": 2, "late": 3, "coverage": 5}
    for field, column in fields.items():
        got = wait_for(lambda f=field: len(series(f)) == 3 and series(f), 10, f"three patrol_round {field} points")
        assert {k: got[starts[k]] for k in truth} == {k: truth[k][column] for k in truth}, field
    missed = wait_for(lambda: len(series("missed")) == 3 and series("missed"), 10, "patrol_round missed")
    assert {k: missed[starts[k]] for k in truth} == {k: len(truth[k][4]) for k in truth}

    # One ticket per round that missed checkpoints, listing them.
    tickets = api.get("/api/tickets", params={"status": "open"}).json()
    patrol = sorted((t for t in tickets if t["rule"] == "patrol.missed_checkpoint"), key=lambda t: t["opened_at"])
    assert [(t["device_id"], t["zone"], t["labels"]["round"], t["labels"]["missed"]) for t in patrol] == [
        ("north", "north", f"north@{day.isoformat()}T20:40+08:00", "cp-a"),
        ("east", "east", f"east@{day.isoformat()}T21:20+08:00", "cp-d,cp-e")]
    assert "东门 East gate, 东围墙 East fence" in patrol[1]["title"]
    assert gw.clock.now() - at(21, 40) < timedelta(minutes=30)

    # /metrics: the night's missed checkpoints per route, and no round under way. North's late tap
    # came after its window had been marked missed, so north counts 2 missed and 1 recovered: 1 net,
    # the round's one missed checkpoint (cp-a); east missed both of its two.
    scraped = api.get("/metrics").text
    assert 'sitegate_patrol_checkpoints_missed_total{route="north"} 2.0' in scraped
    assert 'sitegate_patrol_checkpoints_recovered_total{route="north"} 1.0' in scraped
    assert 'sitegate_patrol_checkpoints_missed_total{route="east"} 2.0' in scraped
    assert "sitegate_patrol_rounds_in_progress 0.0" in scraped


def test_an_unpatrolled_night_of_the_demo_site_opens_one_ticket_per_round(tmp_path: Path) -> None:
    plan = load_plan(demo_site_dir() / "patrol.yaml")  # 4 routes, 5 rounds a night, 30 checkpoints
    store = TicketStore(f"sqlite:///{tmp_path}/tickets.db")
    service = TicketService(store, site_id="demo", tz=TZ, policy=TicketPolicy())
    points: list[Point] = []
    patrol = PatrolConsumer(PatrolTracker(plan, tz=TZ, site_id="demo"), site_id="demo", publisher=None,
                            alerts=service.handle, points=points.extend)
    now, end = datetime(2026, 11, 23, 19, 30, tzinfo=TZ), datetime(2026, 11, 24, 6, 0, tzinfo=TZ)
    while now < end:  # nobody taps; the gateway ticks every minute
        now += timedelta(minutes=1)
        patrol.tick(now)
    tickets = service.list(limit=1000)
    service.close()
    store.close()
    assert len(tickets) == 20  # one per round, not one per checkpoint (150)
    rounds = {f"{r.id}@2026-11-{d}T{h:02d}:00+08:00": [c.id for c in r.checkpoints]
              for r in plan.routes for d, h in (("23", 20), ("23", 22), ("24", 0), ("24", 2), ("24", 4))}
    assert {t.labels["round"]: t.labels["missed"].split(",") for t in tickets} == rounds
    for t in tickets:
        n = len(rounds[t.labels["round"]])
        assert (t.rule, t.device_id, t.status, t.last_value) == ("patrol.missed_checkpoint", t.labels["route"],
                                                                 "open", n)
        assert f", {n} of {n}: " in t.title
        assert all(plan.checkpoint(cp).label in t.description for cp in rounds[t.labels["round"]])
    # and the figures: every round 0 of n, all missed
    figures = sorted((p.tags["round"], p.fields["visited"], p.fields["missed"]) for p in points)
    assert figures == sorted((rid, 0, len(cps)) for rid, cps in rounds.items())


def test_a_round_that_ends_between_two_taps_of_one_batch_ends_before_the_second_is_judged(tmp_path: Path) -> None:
    # A live gateway at high clock speed takes many site minutes of taps in one batch. Route `east`
    # anchored by its first tap at 21:20:30 ends at 21:35:30 (limit 15 min). Its last tap was made at
    # 21:34 but reaches the gateway at 21:36, in the same batch as the first: as in a replay of the
    # same traffic, the round ends incomplete at 21:35:30 (its missed-checkpoint ticket opens), then
    # the buffered tap revises it to completed (the ticket resolves), whether or not the pipeline
    # ticked in between.
    (tmp_path / "patrol.yaml").write_text(PLAN)
    (tmp_path / "site.yaml").write_text("site: {id: e2e, timezone: Asia/Shanghai}\npatrol: patrol.yaml\n"
                                        "timeseries: {embedded: false}\n")
    site = load_site(tmp_path / "site.yaml", Overrides(data=str(tmp_path / "data")))
    clock = FakeClock(datetime(2026, 11, 20, 21, 15, tzinfo=TZ))
    gw = Gateway(site, clock=clock, connect_mqtt=False)
    tickets: TicketService = attach_features(gw, offline=True)["tickets"]
    gw.start(intake=False)
    gw.pipeline.tick()  # the gateway is up before the round

    def at(minute: int, second: int = 0) -> datetime:
        return datetime(2026, 11, 20, 21, minute, second, tzinfo=TZ)

    def tap(made: datetime, arrived: datetime, reader: str, tag: str) -> Inbound:
        return Inbound(f"sitegate/e2e/{reader}/tap", orjson.dumps({"tag": tag, "ts": made.isoformat()}),
                       arrived.timestamp())

    clock.set(at(36, 1))
    gw.pipeline.process([tap(at(20, 30), at(20, 31), "cp-d", "G0017"), tap(at(34), at(36), "hh-07", "04AA0002")])
    missed = [t for t in tickets.list() if t.rule == "patrol.missed_checkpoint"]
    gw.stop()
    assert [(t.opened_at, t.status) for t in missed] == [(at(35, 30), "resolved")]
