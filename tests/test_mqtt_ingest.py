"""The ingest client against a real mosquitto: `connected` means the broker confirmed the
subscriptions, so a message a device sends the moment the gateway says it is connected arrives."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.core.model import Inbound
from gateway.ingest.broker import Broker
from gateway.ingest.mqtt import MqttIngest, MqttSettings
from tests.support.mosquitto import Broker as Mosquitto


def test_a_message_sent_as_soon_as_the_gateway_says_connected_arrives(broker: Mosquitto) -> None:
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="eager-device")
    device.connect("127.0.0.1", broker.port)
    device.loop_start()
    try:
        for attempt in range(10):  # a fresh client id each time: no session to queue anything in
            got: list[Inbound] = []
            arrived = threading.Event()

            def sink(item: Inbound, got: list[Inbound] = got, arrived: threading.Event = arrived) -> None:
                got.append(item)
                arrived.set()

            ingest = MqttIngest(MqttSettings(broker=Broker("127.0.0.1", broker.port),
                                             client_id=f"sitegate-eager-{attempt}", status_topic="t/status",
                                             subscriptions=["eager/#"]), sink)
            ingest.start()
            try:
                assert ingest.connected.wait(10)
                device.publish("eager/door", f"{attempt}".encode(), qos=1).wait_for_publish(5)
                assert arrived.wait(5), f"attempt {attempt}: the message sent right after 'connected' was lost"
                assert [(i.topic, i.payload) for i in got] == [("eager/door", f"{attempt}".encode())]
                ingest.ack(got)
            finally:
                ingest.stop()
    finally:
        device.loop_stop()
        device.disconnect()
