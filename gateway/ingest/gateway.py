"""The gateway the features attach to: site file, journal, decoder, registry, pipeline and MQTT.

It knows nothing of HTTP (gateway/web/ serves it) or of any feature: features plug consumers,
health lines and start/stop steps into it from their `feature.py` (see gateway/app/features.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.core.clock import Clock, SystemClock
from gateway.core.errors import ConfigError
from gateway.core.events import EventBus
from gateway.core.metrics import Metrics
from gateway.core.model import AlertEvent, Consumer, DeviceInfo, Inbound, LiveCondition
from gateway.core.paths import devices_dir
from gateway.core.site import Site
from gateway.devices.decoder import TOPIC_CACHE_SIZE, Decoder
from gateway.devices.loader import load_profiles
from gateway.devices.params import site_problems
from gateway.ingest.broker import Broker
from gateway.ingest.deadletters import DeadLetters
from gateway.ingest.inventory import load_inventory
from gateway.ingest.journal import StateDB
from gateway.ingest.mqtt import MqttIngest, MqttSettings
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry

log = logging.getLogger("sitegate")


def mqtt_settings(site: Site, subscriptions: Sequence[str]) -> MqttSettings:
    m = site.mqtt
    return MqttSettings(
        broker=Broker.from_site(site), client_id=m.client_id or f"sitegate-{site.site.id}",
        status_topic=f"sitegate/{site.site.id}/gateway/status",
        subscriptions=list(m.topics or subscriptions), protocol=m.protocol,
        keepalive=int(m.keepalive_s), reconnect_min=int(m.reconnect_min_s),
        reconnect_max=int(m.reconnect_max_s), receive_maximum=m.receive_maximum,
        session_expiry=int(m.session_expiry_s))


def site_subscriptions(site: Site) -> list[str]:
    """The topic filters the site's gateway subscribes to (what `sitegate record --config` takes)."""
    if site.mqtt.topics:
        return list(site.mqtt.topics)
    profiles = load_profiles([devices_dir(), *site.devices.profiles])
    return Decoder(profiles, site_id=site.site.id, tz=site.tz, params=site.devices.params).subscriptions()


class Gateway:
    def __init__(self, site: Site, *, clock: Clock | None = None, connect_mqtt: bool = True,
                 records_dir: Path | None = None) -> None:
        """`records_dir`: where the long-lived records (the ticket store, the patrol round archive)
        live; the data folder unless an offline run keeps them across several gateways (a month of
        simulated nights, each a fresh gateway, sharing one store)."""
        self.site = site
        self.site_id = site.site.id
        self.tz = site.tz
        self.clock: Clock = clock or SystemClock()
        self.data_dir = site.data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.records_dir = records_dir or self.data_dir
        self.records_dir.mkdir(parents=True, exist_ok=True)
        self.db = StateDB(self.data_dir / "state.db")
        ing = site.ingest
        self.inventory: dict[str, DeviceInfo] = load_inventory(site.inventory) if site.inventory else {}
        profiles = load_profiles([devices_dir(), *site.devices.profiles])
        if problems := site_problems(site, profiles):
            raise ConfigError(problems)
        self.registry = Registry(self.inventory, heartbeat=dict(site.devices.heartbeat),
                                 max_devices=ing.max_devices, default_heartbeat=timedelta(hours=1))
        # The topic cache holds a few topics per device the site may have (and stays bounded): the
        # registry's limit, which an inventory larger than ingest.max_devices raises.
        self.decoder = Decoder(profiles, site_id=self.site_id, tz=self.tz,
                               max_payload_bytes=ing.max_payload_bytes, max_topic_length=ing.max_topic_length,
                               max_clock_skew=ing.max_clock_skew, params=site.devices.params,
                               topic_cache_size=max(TOPIC_CACHE_SIZE, 2 * self.registry.max_devices))
        restored = self.registry.load(self.db.writer)
        self.metrics = Metrics()
        self.bus = EventBus()
        self.deadletters = DeadLetters(max_rows=ing.deadletter_max)
        self.pipeline = Pipeline(self.db, self.decoder, self.registry, metrics=self.metrics,
                                 deadletters=self.deadletters, events=self.bus.publish, wants=self.bus.wants,
                                 max_pending=ing.max_pending, batch_max=ing.batch_max, clock=self.clock)
        # Features hook in here (see gateway/core/plugins.py): health lines, start-up and shutdown
        # steps, and the handle each feature returns from attach() (tickets, patrol, ...) by name.
        self.status_sources: dict[str, Callable[[], str]] = {}
        self.on_start: list[Callable[[], None]] = []
        self.on_stop: list[Callable[[], None]] = []
        self.features: dict[str, Any] = {}
        # The ports between features: rules and patrol raise alerts (tickets subscribes), and every
        # feature may write time-series points (the time-series feature replaces the no-op).
        self.alert_sinks: list[Callable[[Sequence[AlertEvent]], object]] = []
        self.write_points: Callable[[Sequence[Any]], None] = lambda _points: None
        # The rules publish, per device, the conditions that hold for it now (firing or pending): its
        # health band comes from them (gateway/ingest/health.py), with or without a ticket.
        self.publish_conditions: Callable[[Mapping[str, Sequence[LiveCondition]]], None] = \
            self.registry.set_conditions
        self._accepting = True
        self.mqtt: MqttIngest | None = None
        if connect_mqtt:
            self.mqtt = MqttIngest(mqtt_settings(site, self.decoder.subscriptions()), self._intake,
                                   on_state=lambda up: self.metrics.mqtt_connected.set(1 if up else 0),
                                   now=lambda: self.clock.now().timestamp())
            self.pipeline.ack = self.mqtt.ack
        log.info("site %s: %d inventory devices, %d restored from state, %d profiles",
                 self.site_id, len(self.inventory), restored, len(profiles))

    def add_consumer(self, consumer: Consumer, stage: int) -> None:
        """Give every batch to `consumer`, in `stage` order (STAGE_DETECT, STAGE_ACT, STAGE_RECORD)."""
        self.pipeline.add_consumer(consumer, stage)

    def raise_alerts(self, events: Sequence[AlertEvent]) -> None:
        for sink in self.alert_sinks:
            sink(events)

    def _intake(self, item: Inbound) -> None:
        # After stop() begins, new deliveries are left unacked: the broker redelivers them next time.
        if self._accepting:
            self.pipeline.submit(item)

    def start(self, *, intake: bool = True) -> None:
        """Start the features' threads, then the pipeline thread and MQTT. With `intake=False` the
        pipeline is driven by hand (replay, tests): `pipeline.process()` and `pipeline.tick()`."""
        for step in self.on_start:
            step()
        if intake:
            self.pipeline.start()
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
        for name, error in dict(self.pipeline.consumer_errors).items():  # a copy: the pipeline changes it
            problems.append(f"consumer {name} failing, retried until it works: {error}")
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
