"""The running gateway: wires config, journal, decoder, registry, consumers, MQTT and HTTP together."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from gateway.clock import Clock, SystemClock
from gateway.config import Site
from gateway.deadletters import DeadLetters
from gateway.decode import Decoder
from gateway.events import EventBus
from gateway.inventory import load_inventory
from gateway.metrics import Metrics
from gateway.model import DeviceInfo
from gateway.mqtt_ingest import MqttIngest, MqttSettings
from gateway.paths import devices_dir
from gateway.pipeline import Consumer, Inbound, Pipeline
from gateway.profiles import load_profiles
from gateway.registry import Registry
from gateway.statedb import StateDB

log = logging.getLogger("sitegate")


def read_secret(env: str | None, file: Path | str | None) -> str | None:
    """A password or token from an env var or a file; the value is never logged."""
    if env and os.environ.get(env):
        return os.environ[env]
    if file:
        return Path(file).read_text(encoding="utf-8").strip()
    return None


def mqtt_settings(site: Site, subscriptions: Sequence[str]) -> MqttSettings:
    m = site.mqtt
    return MqttSettings(
        host=m.host, port=m.port, tls=m.tls, client_id=m.client_id or f"sitegate-{site.site.id}",
        status_topic=f"sitegate/{site.site.id}/gateway/status",
        subscriptions=list(m.topics or subscriptions), protocol=m.protocol,
        ca_file=str(m.ca_file) if m.ca_file else None, cert_file=str(m.cert_file) if m.cert_file else None,
        key_file=str(m.key_file) if m.key_file else None, tls_insecure=m.tls_insecure,
        username=m.username, password=read_secret(m.password_env, m.password_file),
        keepalive=int(m.keepalive_s), reconnect_min=int(m.reconnect_min_s),
        reconnect_max=int(m.reconnect_max_s), receive_maximum=m.receive_maximum,
        session_expiry=int(m.session_expiry_s))


class Gateway:
    def __init__(self, site: Site, *, clock: Clock | None = None, connect_mqtt: bool = True) -> None:
        self.site = site
        self.site_id = site.site.id
        self.tz = site.tz
        self.clock: Clock = clock or SystemClock()
        self.data_dir = site.data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = StateDB(self.data_dir / "state.db")
        ing = site.ingest
        self.inventory: dict[str, DeviceInfo] = load_inventory(site.inventory) if site.inventory else {}
        profiles = load_profiles([devices_dir(), *site.devices.profiles])
        self.decoder = Decoder(profiles, site_id=self.site_id, tz=self.tz,
                               max_payload_bytes=ing.max_payload_bytes, max_topic_length=ing.max_topic_length,
                               max_clock_skew=ing.max_clock_skew)
        self.registry = Registry(self.inventory, heartbeat=dict(site.devices.heartbeat),
                                 max_devices=ing.max_devices, default_heartbeat=timedelta(hours=1))
        restored = self.registry.load(self.db.writer)
        self.metrics = Metrics()
        self.bus = EventBus()
        self.deadletters = DeadLetters(max_rows=ing.deadletter_max)
        self.pipeline = Pipeline(self.db, self.decoder, self.registry, metrics=self.metrics,
                                 deadletters=self.deadletters, events=self.bus.publish,
                                 max_pending=ing.max_pending, batch_max=ing.batch_max, clock=self.clock)
        self._routers: list[APIRouter] = []
        # Features hook in here (see wiring.py): health lines, start-up and shutdown steps.
        self.status_sources: dict[str, Callable[[], str]] = {}
        self.on_start: list[Callable[[], None]] = []
        self.on_stop: list[Callable[[], None]] = []
        self._accepting = True
        self.mqtt: MqttIngest | None = None
        if connect_mqtt:
            self.mqtt = MqttIngest(mqtt_settings(site, self.decoder.subscriptions()), self._intake,
                                   on_state=lambda up: self.metrics.mqtt_connected.set(1 if up else 0),
                                   now=lambda: self.clock.now().timestamp())
            self.pipeline.ack = self.mqtt.ack
        log.info("site %s: %d inventory devices, %d restored from state, %d profiles",
                 self.site_id, len(self.inventory), restored, len(profiles))

    def add_consumer(self, consumer: Consumer, router: APIRouter | None = None) -> None:
        self.pipeline.add_consumer(consumer)
        if router is not None:
            self._routers.append(router)

    def routers(self) -> list[APIRouter]:
        return list(self._routers)

    def _intake(self, item: Inbound) -> None:
        # After stop() begins, new deliveries are left unacked: the broker redelivers them next time.
        if self._accepting:
            self.pipeline.submit(item)

    def start(self) -> None:
        self.pipeline.start()
        for step in self.on_start:
            step()
        if self.mqtt:
            self.mqtt.start()

    def stop(self) -> None:
        """Stop intake, drain and ack what was taken, snapshot, disconnect."""
        self._accepting = False
        self.pipeline.stop()
        for step in self.on_stop:
            try:
                step()
            except Exception:
                log.exception("a shutdown step failed")
        if self.mqtt:
            self.mqtt.stop()
        self.db.close()
        log.info("stopped cleanly")

    def deadletter_list(self, *, limit: int, reason: str | None) -> list[dict[str, Any]]:
        return self.deadletters.list(self.db.reader(), tz=self.tz, limit=limit, reason=reason)

    def health(self) -> dict[str, Any]:
        mqtt_state = "connected" if self.mqtt and self.mqtt.connected.is_set() else "disconnected"
        problems = []
        if mqtt_state != "connected":
            problems.append(self.mqtt.last_error if self.mqtt and self.mqtt.last_error else "mqtt disconnected")
        if self.pipeline.storage_error:
            problems.append(f"state database not writable: {self.pipeline.storage_error}")
        extra = {name: source() for name, source in self.status_sources.items()}
        if extra.get("timeseries", "ok") == "down":
            problems.append("time-series store down")
        if extra.get("rules", "ok") != "ok":
            problems.append(f"rules: {extra['rules']}")
        return {
            "status": "degraded" if problems else "ok",
            "mqtt": mqtt_state,
            "timeseries": "ok",
            **extra,
            "storage": "error" if self.pipeline.storage_error else "ok",
            "site": self.site_id,
            "site_name": self.site.site.name,
            "timezone": self.site.site.timezone,
            "now": self.clock.now().astimezone(self.tz).isoformat(),
            "devices": len(self.registry),
            "pending": self.pipeline.pending,
            "problems": problems,
        }
