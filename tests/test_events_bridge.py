"""Site -> head office over two real mosquitto brokers, configured by the shipped examples
(examples/headoffice/): a real gateway on the site broker S, bridged to the head-office broker H, and a
head-office subscriber with a persistent session on H.

The independent truth is the site's own ticket API: every change of every ticket (revisions 1..n) must
reach head office, the last one equal to what `GET /api/tickets` answers, through a 10 s outage of H
in the middle of a stream of faults, and through a kill -9 of the gateway with events still unsent.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.gateway_proc import GatewayProcess, wait_for, write_site
from tests.support.headoffice import ConfBroker, hq_broker, site_broker

SITE = "harbor-view"
DEVICES = [f"ext-{i:02d}" for i in range(1, 9)]
ASSETS = "device_id,kind,zone,owner,circuit\n" + "".join(f"{d},extinguisher,b{i % 3},,\n"
                                                         for i, d in enumerate(DEVICES))


class HeadOffice:
    """What head office receives: a persistent session (fixed id, clean_session false), QoS 1."""

    def __init__(self, broker: ConfBroker) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hq-test", clean_session=False)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe("sitegate/+/events/#", qos=1)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.events.append(orjson.loads(msg.payload))

    def snapshot(self, kind: str = "ticket") -> list[dict[str, Any]]:
        """The events of one kind (by type: `ticket.*`, `device.*`, ...) received so far."""
        with self._lock:
            return [e for e in self.events if e["type"].startswith(kind.replace("health", "gateway") + ".")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[tuple[ConfBroker, ConfBroker]]:
    hq = hq_broker(tmp_path / "hq")
    hq.start()
    site = site_broker(tmp_path / "site-broker", hq)
    site.start()
    yield site, hq
    site.stop()
    hq.stop()


def revisions(events: list[dict[str, Any]]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for e in events:
        found.setdefault(e["data"]["id"], set()).add(e["data"]["revision"])
    return found


def all_arrived(gw: GatewayProcess, hq: HeadOffice) -> bool:
    truth = gw.get("/api/tickets", limit=5000)
    got = revisions(hq.snapshot())
    return bool(truth) and all(got.get(t["id"]) == set(range(1, t["revision"] + 1)) for t in truth)


def check_against_the_site(gw: GatewayProcess, hq: HeadOffice) -> list[dict[str, Any]]:
    """Every change of every ticket arrived, one id per change, the last equal to the site's API."""
    truth = {t["id"]: t for t in gw.get("/api/tickets", limit=5000)}
    events = hq.snapshot()
    by_id: dict[str, dict[str, Any]] = {}
    for e in events:
        assert e["v"] == 1 and e["site"] == SITE and e["site_name"] == "Test 测试"
        assert e["id"] == f"{SITE}/ticket/{e['data']['id']}/{e['data']['revision']}"
        assert e["type"] in ("ticket.opened", "ticket.changed", "ticket.escalated", "ticket.closed")
        # At least once: a duplicate is the same event, byte for byte in meaning.
        assert by_id.setdefault(e["id"], e) == e
    assert set(revisions(events)) == set(truth)
    for ticket_id, ticket in truth.items():
        mine = sorted((e for e in by_id.values() if e["data"]["id"] == ticket_id),
                      key=lambda e: e["data"]["revision"])
        assert [e["data"]["revision"] for e in mine] == list(range(1, ticket["revision"] + 1))
        assert mine[0]["type"] == "ticket.opened"
        assert mine[-1]["data"] == ticket  # the full ticket, exactly as the site's API shows it
        assert len(mine[-1]["data"]["history"]) == len(ticket["history"])
    return events


def test_every_ticket_change_reaches_head_office_through_an_outage_and_a_crash(
        brokers: tuple[ConfBroker, ConfBroker], tmp_path: Path) -> None:
    site_mq, hq_mq = brokers
    hq = HeadOffice(hq_mq)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "assets.csv").write_text(ASSETS)
    site = write_site(tmp_path / "site", site_id=SITE, mqtt_url=site_mq.url,
                      extra="inventory: assets.csv\nevents: {enabled: true}\n")
    token = subprocess.run([sys.executable, "-m", "gateway", "token", "create", "--role", "engineer", "--name",
                            "duty engineer 值班工程师", "--config", str(site)],
                           capture_output=True, text=True, check=True).stdout.strip()
    gw = GatewayProcess(site)
    gw.start()
    devices = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="devices")
    devices.connect("127.0.0.1", site_mq.port)
    devices.loop_start()
    try:
        # A stream of faults: each extinguisher drops into the red zone and recovers, again and again
        # (a ticket opens, its condition clears, returns...). H is stopped for 10 s in the middle.
        seen: dict[str, int] = {}

        def hq_outage() -> None:
            time.sleep(4)
            hq_mq.stop()
            seen["before"] = len(hq.snapshot())
            time.sleep(10)
            seen["during"] = len(hq.snapshot()) - seen["before"]
            hq_mq.start()

        outage = threading.Thread(target=hq_outage)
        outage.start()
        sent = 0
        for cycle in range(6):
            for device in DEVICES:
                for pressure in (0.6 + cycle * 0.02, 1.25):
                    devices.publish(f"sitegate/{SITE}/{device}/telemetry",
                                    orjson.dumps({"pressure_mpa": pressure}), qos=1).wait_for_publish(5)
                    sent += 1
                    time.sleep(0.08)
        outage.join()
        assert sent == 6 * len(DEVICES) * 2
        wait_for(lambda: all_arrived(gw, hq), 40, "every ticket change at head office")
        events = check_against_the_site(gw, hq)
        # The outage fell mid-stream: events had arrived before it, none while H was down, and the
        # ones concluded meanwhile came after (queued in the site broker's bridge session).
        assert seen["before"] > 0 and seen["during"] == 0 and len(events) > seen["before"], seen
        assert len({e["data"]["id"] for e in events}) == len(DEVICES)
        assert "Outgoing messages are being dropped" not in site_mq.log + hq_mq.log
        # The other kinds ride the same bridge: each extinguisher came online (its first reading), and
        # the gateway's health went out with its figures.
        online = {e["data"]["device"] for e in hq.snapshot("device") if e["data"]["state"] == "online"}
        assert online == set(DEVICES)
        health = hq.snapshot("health")
        assert health and health[0]["id"].startswith(f"{SITE}/health/") and health[0]["data"]["devices_total"] >= 1
        assert {"status", "mqtt", "open_tickets", "overdue_tickets", "critical_tickets", "devices_offline",
                "timeliness_month"} <= set(health[0]["data"])

        # A crash with events concluded but not published: the site broker is down while people act
        # on tickets (the outbox holds them), then the gateway is killed -9 and started again.
        site_mq.stop()
        wait_for(lambda: gw.get("/api/health")["events"] == "disconnected", 10, "the sender sees S down")
        for ticket in gw.get("/api/tickets", status="open")[:3]:
            acked = httpx.post(f"{gw.url}/api/tickets/{ticket['id']}/ack", json={"note": "on my way 已出发"},
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert acked.status_code == 200, acked.text
        unsent = wait_for(lambda: outbox(gw)["unsent"] >= 3 and outbox(gw)["unsent"], 10, "unsent events")
        assert unsent >= 3
        gw.kill9()
        site_mq.start()
        gw.start()
        wait_for(lambda: all_arrived(gw, hq), 30, "the changes made while S was down, after the restart")
        events = check_against_the_site(gw, hq)
        assert sum(1 for e in events if e["data"]["history"][-1]["action"] == "acknowledged") >= 3
        wait_for(lambda: outbox(gw)["unsent"] == 0, 10, "an empty outbox")
    finally:
        devices.loop_stop()
        gw.stop()
        hq.close()


def outbox(gw: GatewayProcess) -> dict[str, int]:
    """`sitegate_events_outbox{state}` from /metrics."""
    text = httpx.get(gw.url + "/metrics", timeout=5).text
    found = {}
    for line in text.splitlines():
        if line.startswith("sitegate_events_outbox{"):
            state = line.split('state="')[1].split('"')[0]
            found[state] = int(float(line.rsplit(" ", 1)[1]))
    return found
