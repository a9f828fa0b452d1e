"""BulkClient (gateway/ingest/mqtt_client.py) against a real mosquitto: buffered reads and one-write
acks lose, split, reorder or double nothing, an unacked message is redelivered and an acked one is
not, and paho still has the internals the client builds on."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.core.model import Inbound
from gateway.ingest.broker import Broker
from gateway.ingest.mqtt import MqttIngest, MqttSettings
from gateway.ingest.mqtt_client import READ_CHUNK, BufferedSocket, BulkClient, supported
from tests.support.mosquitto import Broker as Mosquitto


def test_paho_still_has_what_the_bulk_client_builds_on() -> None:
    # If a paho release renames these, the client falls back to paho's own loop (slower, correct);
    # this test is the alarm that says so.
    assert supported()
    assert BulkClient._bulk
    client = BulkClient(CallbackAPIVersion.VERSION2, client_id="bulk-internals")
    assert {"_sock", "_out_packet", "_thread"} <= set(vars(client))


def test_a_buffered_socket_serves_small_reads_from_one_large_one() -> None:
    a, b = socket.socketpair()
    with a, b:
        buffered = BufferedSocket(a)
        with buffered:
            b.sendall(b"0123456789")
            time.sleep(0.05)
            assert buffered.recv(1) == b"0"
            assert buffered.pending() == 9  # the rest came with the first read
            assert buffered.recv(3) == b"123"
            assert buffered.recv(100) == b"456789"
            assert buffered.pending() == 0
            big = os.urandom(3 * READ_CHUNK + 17)
            b.sendall(big)
            got = b""
            buffered.settimeout(2)
            while len(got) < len(big):
                got += buffered.recv(5)
            assert got == big
            b.close()
            assert buffered.recv(1) == b""  # end of stream still reads as empty


def _ingest(port: int, client_id: str, got: list[Inbound], auto_ack: bool) -> MqttIngest:
    ingest: MqttIngest

    def sink(item: Inbound) -> None:
        got.append(item)
        if auto_ack:
            ingest.ack([item])

    ingest = MqttIngest(MqttSettings(broker=Broker("127.0.0.1", port), client_id=client_id,
                                     status_topic=f"{client_id}/status", subscriptions=["bulk/#"]), sink)
    return ingest


def _publish(port: int, payloads: list[bytes]) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bulk-publisher")
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        infos = [pub.publish(f"bulk/{i % 7}", p, qos=1) for i, p in enumerate(payloads)]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        pub.loop_stop()
        pub.disconnect()


def _wait(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out: {check.__doc__ or ''}")


class BatchAcker:
    """Acks what arrived, in batches, from its own thread (as the pipeline thread does), up to `upto`."""

    def __init__(self, ingest: MqttIngest, got: list[Inbound], upto: int) -> None:
        self.ingest, self.got, self.upto = ingest, got, upto
        self.done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            end = min(len(self.got), self.upto)
            if end > self.done:
                self.ingest.ack(self.got[self.done:end])
                self.done = end

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "paho-fallback"])
@pytest.mark.parametrize("sizes", ["small", "mixed"])
def test_a_backlog_arrives_whole_in_order_and_acked_messages_are_not_redelivered(
        broker: Mosquitto, sizes: str, bulk: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BulkClient, "_bulk", bulk)
    # Queued while the client is away, so it drains as one stream of back-to-back packets: many per
    # 64 KiB read, and (mixed) payloads larger than a read, split across reads. The last 800 are
    # never acked (fewer than the 1,000 the broker sends unacked).
    n, held = 3000, 800
    payloads = [f"{i:05d}".encode() * (1 if sizes == "small" else 1 + (i * 7919) % 40) for i in range(n)]
    if sizes == "mixed":
        payloads[100] = os.urandom(200_000)
        payloads[1500] = os.urandom(READ_CHUNK)
    got: list[Inbound] = []
    first = _ingest(broker.port, f"bulk-{sizes}", got, auto_ack=False)
    first.start()
    assert first.connected.wait(10)
    first.stop()  # subscribed with a persistent session; now away
    _publish(broker.port, payloads)
    second = _ingest(broker.port, f"bulk-{sizes}", got, auto_ack=False)
    acker = BatchAcker(second, got, n - held)
    second.start()
    try:
        _wait(lambda: len(got) >= n)
        assert [i.payload for i in got] == payloads  # whole, in order, once
        _wait(lambda: acker.done == n - held)
        time.sleep(0.5)  # the last PUBACKs reach the broker
    finally:
        acker.stop()
        second.stop()
    # Back again: exactly the unacked ones are redelivered.
    again: list[Inbound] = []
    third = _ingest(broker.port, f"bulk-{sizes}", again, auto_ack=True)
    third.start()
    try:
        _wait(lambda: len(again) >= held)
        time.sleep(0.5)
        assert [i.payload for i in again] == payloads[n - held:]
    finally:
        third.stop()
    # And once those are acked, nothing more comes.
    last: list[Inbound] = []
    fourth = _ingest(broker.port, f"bulk-{sizes}", last, auto_ack=True)
    fourth.start()
    try:
        assert fourth.connected.wait(10)
        time.sleep(0.5)
        assert last == []
    finally:
        fourth.stop()


def test_publishing_while_reading_a_stream_keeps_both_intact(broker: Mosquitto) -> None:
    # The pipeline thread publishes (a reader's ack) while the network thread reads many packets a
    # call and writes the queued packets in between: every published message arrives, unmangled.
    got: list[Inbound] = []
    ingest = _ingest(broker.port, "bulk-both", got, auto_ack=True)
    echoes: list[bytes] = []
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bulk-listener")
    listener.on_message = lambda _c, _u, m: echoes.append(m.payload)
    listener.connect("127.0.0.1", broker.port)
    listener.subscribe("echo/#", 1)
    listener.loop_start()
    ingest.start()
    try:
        assert ingest.connected.wait(10)
        feeder = threading.Thread(target=_publish, args=(broker.port, [b"x" * 50] * 4000))
        feeder.start()
        for i in range(500):
            ingest.publish(f"echo/{i % 3}", f"ack-{i}".encode(), qos=1)
            time.sleep(0.001)
        feeder.join()
        _wait(lambda: len(got) >= 4000 and len(echoes) >= 500)
        assert len(got) == 4000
        assert sorted(echoes, key=lambda p: int(p.split(b"-")[1])) == [f"ack-{i}".encode() for i in range(500)]
    finally:
        ingest.stop()
        listener.loop_stop()
        listener.disconnect()


def test_an_urgent_publish_is_on_the_wire_when_publish_returns(broker: Mosquitto,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # A reader's ack: the pipeline thread waits (releasing the GIL) until paho's network thread has
    # written it, instead of going on with the batch and leaving it queued. The gateway caps the wait
    # at 2 ms (a latency choice); here the cap is long, so only a wait that does not wait can fail.
    monkeypatch.setattr("gateway.ingest.mqtt.URGENT_WAIT_S", 5.0)
    got: list[Inbound] = []
    ingest = _ingest(broker.port, "bulk-urgent", got, auto_ack=True)
    ingest.start()
    try:
        assert ingest.connected.wait(10)
        for i in range(50):
            ingest.publish(f"echo/{i}", b"ok", qos=1, urgent=True)
            assert not ingest.client._out_packet, f"publish {i} returned with its packet still queued"
        # From the network thread itself there is nobody else to write: it does not wait.
        seen: list[bool] = []
        ingest.client.on_publish = lambda c, _u, _m, _r, _p: seen.append(c.wait_written(5.0) or True)
        started = time.monotonic()
        ingest.publish("echo/last", b"ok", qos=1)
        _wait(lambda: bool(seen))
        assert time.monotonic() - started < 4.0
    finally:
        ingest.stop()
