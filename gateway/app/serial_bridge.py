"""The MQTT side of `sitegate serial`: a small paho publisher for native tap messages."""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.core.site import Site
from gateway.ingest.broker import Broker

log = logging.getLogger("sitegate.serial")


class BridgePublisher:
    """Connects with a persistent session and the reader's own status will (offline)."""

    def __init__(self, site: Site, device_id: str) -> None:
        broker = Broker.from_site(site)
        self.status_topic = f"sitegate/{site.site.id}/{device_id}/status"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sitegate-serial-{device_id}",
                                  clean_session=False)
        broker.configure(self.client)
        self.client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        self.client.on_connect = lambda c, *_a: c.publish(self.status_topic, b"online", qos=1, retain=True)
        self.client.connect_async(broker.host, broker.port, 30)

    def __enter__(self) -> BridgePublisher:
        self.client.loop_start()
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        info = self.client.publish(self.status_topic, b"offline", qos=1, retain=True)
        with contextlib.suppress(RuntimeError, ValueError):  # never connected: nothing to tell the broker
            info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                urgent: bool = False) -> None:
        # paho queues while disconnected (persistent session): taps are not lost on a Wi-Fi blip.
        self.client.publish(topic, payload, qos=qos, retain=retain)
