"""`sitegate serial` end to end: RDM6300 frames on a pty -> native tap messages on mosquitto."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tty
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import Broker

FRAMES = Path(__file__).parent / "data" / "rdm6300_frames.txt"


def frames() -> bytes:
    return b"".join(bytes.fromhex(line) for line in FRAMES.read_text().splitlines()
                    if line.strip() and not line.startswith("#"))


def test_frames_on_a_serial_port_become_taps_on_the_broker(broker: Broker, tmp_path: Path) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    taps: queue.Queue[tuple[str, dict[str, str]]] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="serial-test")
    sub.on_message = lambda _c, _u, m: taps.put((m.topic, orjson.loads(m.payload)))
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe("sitegate/site/+/tap", 1)
    sub.loop_start()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serial", "--port", os.ttyname(slave),
                             "--reader", "rdm6300", "--device-id", "cp-pump", "--mqtt-url", broker.url,
                             "--data", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The reader status goes online when the bridge is connected; then the card is presented.
        status = queue.Queue[bytes]()
        sub.message_callback_add("sitegate/site/cp-pump/status", lambda _c, _u, m: status.put(m.payload))
        sub.subscribe("sitegate/site/cp-pump/status", 1)
        assert status.get(timeout=15) == b"online"
        os.write(master, frames())  # valid, corrupt checksum, truncated + valid (a repeat: debounced)
        topic, tap = taps.get(timeout=10)
        assert topic == "sitegate/site/cp-pump/tap"
        assert tap["tag"] == "003B51C6" and "ts" in tap
        with pytest.raises(queue.Empty):  # the corrupt frame is dropped and the repeat debounced
            taps.get(timeout=1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
        sub.loop_stop()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err.decode()
