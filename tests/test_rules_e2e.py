"""Rules through a real mosquitto on an accelerated site clock: discovery, retained availability, heartbeats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.gateway_proc import wait_for
from tests.support.inprocess import site_gateway
from tests.support.mosquitto import Broker

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 20, 20, 0, tzinfo=TZ)
SPEED = 120.0  # one real second is two site minutes

SITE = """site: {{id: e2e, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}}
mqtt: {{url: "{url}"}}
inventory: assets.csv
devices: {{heartbeat: {{checkpoint_reader: 10m}}}}
"""
ASSETS = "device_id,kind,zone\ncp-gate,checkpoint_reader,north\ncp-yard,checkpoint_reader,south\n"


class Devices:
    """The site's devices: one MQTT client publishing as they would."""

    def __init__(self, broker: Broker) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-devices")
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: str, *, retain: bool = False) -> None:
        self.client.publish(topic, payload.encode(), qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def devices(broker: Broker) -> Iterator[Devices]:
    d = Devices(broker)
    yield d
    d.close()


@pytest.fixture
def site_folder(broker: Broker, tmp_path: Path) -> Path:
    (tmp_path / "assets.csv").write_text(ASSETS)
    (tmp_path / "site.yaml").write_text(SITE.format(url=broker.url))
    return tmp_path


def tickets(api: TestClient, rule: str, device: str) -> list[dict[str, Any]]:
    return [t for t in api.get("/api/tickets", params={"device": device}).json() if t["rule"] == rule]


def subscribed(api: TestClient) -> None:
    """Wait for the retained status of cp-gate: once it arrived, the gateway's subscription is in place."""
    wait_for(lambda: api.get("/api/devices/cp-gate").json()["online"] is True, 10, "the retained status")


def test_a_reader_with_a_retained_online_status_is_not_silent_between_taps(
        site_folder: Path, devices: Devices) -> None:
    # The fixed reader published its status before the gateway started: the broker keeps it.
    devices.send("sitegate/e2e/cp-gate/status", "online", retain=True)
    with site_gateway(site_folder / "site.yaml", site_folder / "data", start=START, speed=SPEED) as running:
        _gw, _clock, api = running
        subscribed(api)
        devices.send("sitegate/e2e/cp-gate/tap", '{"tag": "G0017"}')
        devices.send("sitegate/e2e/cp-yard/tap", '{"tag": "G0017"}')
        # Both were tapped at the same moment; the reader without a status is silent ten minutes later.
        wait_for(lambda: tickets(api, "health.silent", "cp-yard"), 30, "cp-yard reported silent")
        assert tickets(api, "health.silent", "cp-gate") == []
        assert api.get("/api/devices/cp-gate").json()["online"] is True
        assert api.get("/api/devices/cp-yard").json()["online"] is False
        # The reader's will: the broker says it is gone. That is offline, not a sign of life.
        devices.send("sitegate/e2e/cp-gate/status", "offline", retain=True)
        offline = wait_for(lambda: tickets(api, "health.offline", "cp-gate"), 30, "cp-gate reported offline")
        assert offline[0]["status"] == "open"
        assert api.get("/api/devices/cp-gate").json()["online"] is False


def test_a_discovered_device_gets_the_rules_of_a_kind_learned_from_its_second_message(
        site_folder: Path, devices: Devices) -> None:
    devices.send("sitegate/e2e/cp-gate/status", "online", retain=True)
    with site_gateway(site_folder / "site.yaml", site_folder / "data", start=START, speed=SPEED) as running:
        _gw, _clock, api = running
        subscribed(api)
        devices.send("sitegate/e2e/ext-9/telemetry", '{"battery": 90}')  # says nothing of what it is
        wait_for(lambda: api.get("/api/devices/ext-9").json()["kind"] == "unknown", 10, "ext-9 discovered")
        # It says it is an extinguisher (believed; a guess from the metric would not be), in the red.
        devices.send("sitegate/e2e/ext-9/telemetry", '{"kind": "extinguisher", "pressure_mpa": 0.62}')
        [ticket] = wait_for(lambda: tickets(api, "fire.extinguisher_low", "ext-9"), 10, "the low-pressure ticket")
        assert (ticket["kind"], ticket["severity"], ticket["status"]) == ("extinguisher", "major", "open")
