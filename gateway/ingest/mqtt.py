"""The MQTT side of ingest: paho in its own network thread, QoS1, persistent session, manual ack.

The network thread never processes anything: it stamps arrival time and hands the message to the
pipeline (which blocks it when too much is pending, so TCP holds the rest at the broker). Acks come
back from the pipeline thread after the group commit; an ack for a message of an earlier connection
is dropped (paho forgets queued acks on reconnect, and the packet id may since name another message).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.core.model import Inbound
from gateway.ingest.broker import Broker
from gateway.ingest.mqtt_client import BulkClient

# How long an urgent publish waits for paho's network thread to write it (the cap when the
# connection is down; it takes ~0.1-0.5 ms when the network thread only needs the GIL).
URGENT_WAIT_S = 0.002

log = logging.getLogger("sitegate.mqtt")

AUTH_RETRY_S = 60

# CONNACK reasons that retrying cannot fix: back off to the longest delay and say why.
AUTH_FAILURES = {"Bad user name or password", "Not authorized", "Client identifier not valid",
                 "Banned", "Bad authentication method"}


@dataclass(frozen=True)
class MqttSettings:
    broker: Broker
    client_id: str
    status_topic: str
    subscriptions: Sequence[str]
    protocol: str = "3.1.1"  # or "5"
    keepalive: int = 30
    reconnect_min: int = 1
    reconnect_max: int = 4
    receive_maximum: int = 1000
    session_expiry: int = 7 * 24 * 3600


class MqttIngest:
    """Owns the paho client: subscribe, deliver to `sink`, ack, publish (it is the Publisher too)."""

    def __init__(self, settings: MqttSettings, sink: Callable[[Inbound], None],
                 on_state: Callable[[bool], None] = lambda _c: None,
                 now: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._now = now  # arrival stamp; the demo runs it on the simulated site clock
        self._sink = sink
        self._on_state = on_state
        self._conn = 0
        self._stopping = False
        self.connected = threading.Event()  # set once the broker confirmed our subscriptions
        self._subscribe_mid = -1
        self.last_error: str | None = None
        self.attempts = 0
        v5 = settings.protocol == "5"
        self.client = BulkClient(
            CallbackAPIVersion.VERSION2, client_id=settings.client_id,
            # 3.1.1: a persistent session is clean_session=False; v5 uses clean_start on connect.
            clean_session=None if v5 else False,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            manual_ack=True, reconnect_on_failure=True)
        self.client.max_inflight_messages_set(settings.receive_maximum)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(settings.reconnect_min, settings.reconnect_max)
        settings.broker.configure(self.client)
        self.client.will_set(settings.status_topic, b"offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        props = None
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            # Without a session expiry an MQTT 5 broker discards the session at disconnect.
            props.SessionExpiryInterval = s.session_expiry
            props.ReceiveMaximum = s.receive_maximum
        log.info("connecting to mqtt%s://%s:%d as %s (MQTT %s, persistent session)",
                 "s" if s.broker.tls else "", s.broker.host, s.broker.port, s.client_id, s.protocol)
        self.attempts = 1
        if s.protocol == "5":
            self.client.connect_async(s.broker.host, s.broker.port, s.keepalive, clean_start=False,
                                      properties=props)
        else:
            self.client.connect_async(s.broker.host, s.broker.port, s.keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        if self.connected.is_set():
            info = self.client.publish(self.settings.status_topic, b"offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # the connection is already gone
                info.wait_for_publish(2.0)
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    # -- paho callbacks (network thread) --------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _ud: object, flags: mqtt.ConnectFlags, reason: ReasonCode,
                    _props: Properties | None) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            if str(reason) in AUTH_FAILURES:
                # Retrying soon cannot fix credentials: slow down, so the broker's log is not flooded.
                slow = max(AUTH_RETRY_S, self.settings.reconnect_max)
                self.last_error += "; check mqtt.username and the password (or client certificate)"
                log.error("%s; retrying every %ds", self.last_error, slow)
                client.reconnect_delay_set(slow, slow)
            else:
                log.error(self.last_error)
            return
        self._conn = time.time_ns()
        self.last_error = None
        _no_delay(client)
        client.reconnect_delay_set(self.settings.reconnect_min, self.settings.reconnect_max)
        log.info("connected to the broker (session present: %s) after %d attempt(s)",
                 flags.session_present, self.attempts)
        self.attempts = 0
        client.publish(self.settings.status_topic, b"online", qos=1, retain=True)
        # Connected means subscribed: until the broker confirms the subscriptions, what devices
        # publish may not be routed to us (a first start has no session to queue it in).
        _rc, mid = client.subscribe([(topic, 1) for topic in self.settings.subscriptions])
        self._subscribe_mid = -1 if mid is None else mid  # None: the connection dropped; paho reconnects

    def _on_subscribe(self, _client: mqtt.Client, _ud: object, mid: int, reasons: list[ReasonCode],
                      _props: Properties | None) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [topic for topic, reason in zip(self.settings.subscriptions, reasons, strict=False)
                   if reason.is_failure]
        if refused:
            self.last_error = (f"the broker refused the subscription to {', '.join(refused)}; check the "
                               "broker's ACL for this client")
            log.error(self.last_error)
        self.connected.set()
        self._on_state(True)

    def _on_disconnect(self, _client: mqtt.Client, _ud: object, _flags: mqtt.DisconnectFlags,
                       reason: ReasonCode, _props: Properties | None) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and self._stopping:
            log.info("disconnected from the broker")
            self._on_state(False)
        elif was:
            log.warning("disconnected from the broker (%s); reconnecting with backoff", reason)
            self._on_state(False)
        elif not (self.last_error or "").startswith("broker refused"):
            # Closed before CONNACK: typically a broker that wants a client certificate.
            b = self.settings.broker
            self.last_error = (f"the broker at {b.host}:{b.port} closed the connection "
                               f"before accepting it ({reason}); check mqtt.cert_file and mqtt.key_file")
            log.warning(self.last_error)

    def _on_connect_fail(self, _client: mqtt.Client, _ud: object) -> None:
        self.attempts += 1
        self.last_error = f"cannot reach the broker at {self.settings.broker.host}:{self.settings.broker.port}"
        if self.settings.broker.tls:
            self.last_error += (" or the TLS handshake failed: check that mqtt.ca_file holds the CA that signed "
                                "the broker's certificate")
        log.warning("%s (attempt %d); retrying with backoff up to %ds", self.last_error, self.attempts,
                    self.settings.reconnect_max)

    def _on_message(self, _client: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        # Arrival time, connection tag, hand-over. Blocks here under backpressure, on purpose.
        self._sink(Inbound(msg.topic, bytes(msg.payload), self._now(), msg.mid, msg.qos, bool(msg.dup),
                           self._conn))

    # -- pipeline thread ------------------------------------------------------------------------
    def ack(self, batch: Sequence[Inbound]) -> None:
        conn = self._conn
        self.client.ack_many(item.mid for item in batch if item.qos == 1 and item.conn == conn)
        for item in batch:
            if item.qos == 2 and item.conn == conn:
                self.client.ack(item.mid, item.qos)

    # -- Publisher ------------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                urgent: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)
        if urgent:
            self.client.wait_written(URGENT_WAIT_S)


def _no_delay(client: mqtt.Client) -> None:
    """Send small packets (PUBACKs, a reader's ack) at once instead of waiting for Nagle's algorithm,
    which with the peer's delayed ACK costs ~40 ms per hop on loopback."""
    sock = client.socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
