"""The simulator's MQTT connection: paho-mqtt, MQTT 3.1.1 (the demo's amqtt broker speaks no other),
QoS1 publishes with a bounded number awaiting the broker's PUBACK, and a subscription to the
gateway's tap acks so a run can say how its taps were judged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.app.simulator.conventions import Message
from gateway.core.errors import SitegateError
from gateway.ingest.broker import Broker

MAX_OUTSTANDING = 1000  # QoS1 publishes not yet acknowledged; beyond this, publishing waits


class MqttPublisher:
    def __init__(self, broker: Broker, client_id: str, *,
                 ack_filter: str | None = None, on_ack: Callable[[str], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.broker = broker
        self.url = broker.url
        self._ack_filter, self._on_ack = ack_filter, on_ack
        self._stop = stop or threading.Event()
        self._connected = threading.Event()
        self._cond = threading.Condition()
        self._outstanding: set[int] = set()  # message ids awaiting PUBACK
        self._acked_early: set[int] = set()  # PUBACKs that arrived before publish() recorded the id
        self.failed = 0
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}-{os.getpid()}",
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.max_inflight_messages_set(100)
        client.reconnect_delay_set(1, 10)
        broker.configure(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client

    def connect(self, timeout: float = 10.0) -> None:
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(timeout):
            self._client.loop_stop()
            raise SitegateError(f"Could not connect to the MQTT broker at {self.url} within {timeout:.0f} s; "
                                "start the broker or pass the right --mqtt-url.")

    def publish(self, msg: Message) -> bool:
        """Send at QoS1; waits while too many messages await the broker's acknowledgement."""
        with self._cond:
            while len(self._outstanding) >= MAX_OUTSTANDING and not self._stop.is_set():
                self._cond.wait(0.2)
        # Never call paho while holding our lock: paho runs on_publish under its own message lock.
        info = self._client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: queued for reconnect
            self.failed += 1
            return False
        with self._cond:
            if info.mid in self._acked_early:  # the PUBACK beat us here
                self._acked_early.discard(info.mid)
            else:
                self._outstanding.add(info.mid)
        return True

    def close(self, timeout: float = 5.0) -> int:
        """Wait up to `timeout` for outstanding acknowledgements, disconnect; returns how many never came."""
        with self._cond:
            self._cond.wait_for(lambda: not self._outstanding, timeout)
            left = len(self._outstanding)
        self._client.disconnect()
        self._client.loop_stop()
        return left

    # -- paho callbacks (network thread) --------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            return
        if self._ack_filter:
            client.subscribe(self._ack_filter, qos=0)
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: Any, _reason: Any, _props: Any) -> None:
        self._connected.clear()

    def _on_publish(self, _c: mqtt.Client, _ud: Any, mid: int, _reason: Any, _props: Any) -> None:
        with self._cond:
            if mid in self._outstanding:
                self._outstanding.discard(mid)
                self._cond.notify_all()
            else:
                self._acked_early.add(mid)

    def _on_message(self, _c: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        if self._on_ack is None:
            return
        try:
            result = orjson.loads(msg.payload).get("result")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if isinstance(result, str):
            self._on_ack(result)
