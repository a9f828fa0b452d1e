"""Publishing the outbox: its own paho client (QoS1), a window of events in flight, each marked sent
only when the broker's PUBACK for it came back.

Paho resends what is in flight after a reconnect; an event still without its PUBACK after
`resend_after` seconds (or whose publish paho refused) is published again from the outbox.
Duplicates are fine, the ids make head office idempotent; losses are not, so nothing is ever marked
sent without its PUBACK, and whatever is unsent at a crash is sent at the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.events.outbox import Outbox
from gateway.ingest.broker import Broker
from gateway.ingest.mqtt import AUTH_FAILURES, AUTH_RETRY_S

log = logging.getLogger("sitegate.events")


@dataclass(slots=True)
class InFlight:
    info: mqtt.MQTTMessageInfo
    sent_at: float  # monotonic


class Sender:
    def __init__(self, outbox: Outbox, broker: Broker, *, client_id: str, window: int = 200,
                 resend_after: float = 30.0, prune_every: float = 300.0, keepalive: int = 30,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.broker = broker
        self.window, self.resend_after, self.prune_every = window, resend_after, prune_every
        self.keepalive = keepalive
        self._monotonic = monotonic
        self.connected = threading.Event()
        self.published = 0  # PUBACKs received
        self._inflight: dict[int, InFlight] = {}  # outbox seq -> its publish
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                                  protocol=MQTTProtocolVersion.MQTTv311, reconnect_on_failure=True)
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 8)
        broker.configure(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    def wake(self) -> None:
        """Something was added to the outbox: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self.client.connect_async(self.broker.host, self.broker.port, self.keepalive)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="events-sender", daemon=True)
        self._thread.start()

    def stop(self, drain: float = 2.0) -> None:
        """Give what is in flight `drain` seconds for its PUBACK, then disconnect; the rest stays unsent."""
        deadline = self._monotonic() + drain
        while self._inflight and self.connected.is_set() and self._monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._confirm()
        self.client.disconnect()
        self.client.loop_stop()

    # -- the sender thread ----------------------------------------------------------------------
    def _run(self) -> None:
        last_prune = self._monotonic()
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self._confirm()
                if self.connected.is_set():
                    self._fill()
                if self._monotonic() - last_prune >= self.prune_every:
                    last_prune = self._monotonic()
                    self.outbox.prune()
            except Exception:  # the outbox database or paho: log, keep going, retry next round
                log.exception("The events sender failed a round; retrying.")
                self._stop.wait(1.0)

    def _confirm(self) -> None:
        """Mark sent what the broker acknowledged; forget (to publish again) what failed or hangs."""
        done, again = [], []
        now = self._monotonic()
        for seq, flight in list(self._inflight.items()):
            try:
                if flight.info.is_published():
                    done.append(seq)
                elif now - flight.sent_at > self.resend_after:
                    again.append(seq)
            except (RuntimeError, ValueError):  # paho did not take it (no connection at that instant)
                again.append(seq)
        if done:
            self.outbox.mark_sent(done)
            self.published += len(done)
        for seq in (*done, *again):
            del self._inflight[seq]

    def _fill(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        for item in self.outbox.unsent(room, skip=self._inflight):
            info = self.client.publish(item.topic, item.payload, qos=1)
            self._inflight[item.seq] = InFlight(info, self._monotonic())

    # -- paho callbacks (network thread) ------------------------------------------------------
    def _on_connect(self, _c: mqtt.Client, _ud: object, _flags: mqtt.ConnectFlags, reason: ReasonCode,
                    _props: Properties | None) -> None:
        if reason.is_failure:
            log.error("The site broker refused the events publisher: %s", reason)
            if str(reason) in AUTH_FAILURES:
                # Retrying soon cannot fix credentials (the ingest client says which): no storm.
                self.client.reconnect_delay_set(AUTH_RETRY_S, AUTH_RETRY_S)
            return
        self.client.reconnect_delay_set(1, 8)
        self.connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _ud: object, _flags: mqtt.DisconnectFlags, reason: ReasonCode,
                       _props: Properties | None) -> None:
        if self.connected.is_set() and not self._stop.is_set():
            log.warning("The events publisher lost the site broker (%s); events wait in the outbox.", reason)
        self.connected.clear()

    def _on_publish(self, _c: mqtt.Client, _ud: object, _mid: int, _reason: ReasonCode,
                    _props: Properties | None) -> None:
        self._wake.set()
