"""The events sender against a real mosquitto: an event is marked sent only after the broker's
PUBACK; while the broker is down events stay unsent, and they go out when it is back."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.events.build import Event
from gateway.events.outbox import Outbox
from gateway.events.sender import Sender
from gateway.ingest.broker import Broker as BrokerAddress
from tests.support.gateway_proc import wait_for
from tests.support.mosquitto import mosquitto


def ev(n: int) -> Event:
    return Event(f"s/ticket/T-{n}/1", "ticket", "ticket.opened", "sitegate/s/events/ticket", b'{"n": %d}' % n)


def test_events_are_sent_on_puback_and_wait_while_the_broker_is_down(tmp_path: Path) -> None:
    with mosquitto(tmp_path / "mq") as broker:
        got: list[bytes] = []
        lock = threading.Lock()
        sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher", clean_session=False)

        def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
            with lock:
                got.append(bytes(m.payload))

        sub.on_message = on_message
        sub.on_connect = lambda c, *_: c.subscribe("sitegate/+/events/#", qos=1)
        sub.reconnect_delay_set(0.2, 1)
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        box = Outbox(tmp_path / "events.db")
        sender = Sender(box, BrokerAddress.from_url(broker.url), client_id="sitegate-s-events", window=5)
        try:
            box.add([ev(n) for n in range(12)])  # more than the window: it refills as PUBACKs come
            sender.start()
            wait_for(lambda: box.counts() == {"unsent": 0, "sent": 12}, 10, "12 events acknowledged")
            assert sender.published == 12
            wait_for(lambda: len(set(got)) == 12, 10, "12 events at the subscriber")

            broker.stop()
            wait_for(lambda: not sender.connected.is_set(), 10, "the sender sees the broker gone")
            box.add([ev(n) for n in range(12, 20)])
            sender.wake()
            wait_for(lambda: box.counts()["unsent"] == 8, 2, "8 unsent")
            assert box.counts() == {"unsent": 8, "sent": 12}  # nothing is marked sent without its PUBACK

            broker.start()
            wait_for(lambda: box.counts() == {"unsent": 0, "sent": 20}, 20, "the backlog acknowledged")
            wait_for(lambda: {b'{"n": %d}' % n for n in range(20)} <= set(got), 10, "all 20 at the subscriber")
        finally:
            sender.stop()
            sub.loop_stop()
