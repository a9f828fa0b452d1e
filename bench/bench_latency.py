"""Latency through real mosquitto and a real `sitegate run` process:
- tap -> ack: a reader publishes a tap, the gateway judges it and publishes the ack back;
- fault -> ticket: a faulty reading is published, until the ticket is visible over the HTTP API;
next to an echo baseline measured in the same run (a raw paho client that republishes each message:
the broker round trip that any gateway pays).

    .venv/bin/python bench/bench_latency.py [--taps 300] [--faults 100]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.gateway_proc import GatewayProcess, write_site
from tests.support.mosquitto import mosquitto

PLAN = """
checkpoints:
  - {id: cp-a, name: 北门 North gate, zone: north, reader: cp-a}
guards:
  - {id: G017, name: 王强 Wang Qiang, card: "G0017"}
routes:
  - id: always
    ordered: false
    schedule: "* * * * *"
    start_grace: 1m
    limit: 1m
    checkpoints:
      - {id: cp-a, at: 0m, tolerance: 1m}
"""


def no_delay(client: mqtt.Client) -> None:
    """The same socket option the gateway sets (see gateway/ingest/mqtt.py), for a fair baseline."""
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class RoundTrip:
    """Publish on one topic, time until a message arrives on another."""

    def __init__(self, port: int, reply_filter: str, client_id: str) -> None:
        self.got = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = lambda *_a: self.got.set()
        self.client.connect("127.0.0.1", port)
        no_delay(self.client)
        self.client.subscribe(reply_filter, 1)
        self.client.loop_start()
        time.sleep(0.3)

    def measure(self, topic: str, payload: bytes) -> float:
        self.got.clear()
        t0 = time.perf_counter()
        self.client.publish(topic, payload, qos=1)
        if not self.got.wait(5):
            raise TimeoutError(f"no reply to {topic}")
        return (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def echo_baseline(port: int, n: int) -> list[float]:
    echo = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-echo")
    echo.on_message = lambda c, _u, m: c.publish("echo/out", m.payload, qos=1)
    echo.connect("127.0.0.1", port)
    no_delay(echo)
    echo.subscribe("echo/in", 1)
    echo.loop_start()
    rt = RoundTrip(port, "echo/out", "bench-echo-probe")
    out = [rt.measure("echo/in", b'{"tag":"G0017"}') for _ in range(n)]
    rt.close()
    echo.loop_stop()
    echo.disconnect()
    return out


def taps(port: int, n: int) -> list[float]:
    rt = RoundTrip(port, "sitegate/bench/+/ack", "bench-reader")
    out = []
    for i in range(n):
        # Different cards so the debounce never answers from its shortcut.
        out.append(rt.measure("sitegate/bench/cp-a/tap", orjson.dumps({"tag": f"G{i:05d}"})))
    rt.close()
    return out


def faults(port: int, gw: GatewayProcess, n: int) -> list[float]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-faults")
    client.connect("127.0.0.1", port)
    client.loop_start()
    http = httpx.Client(base_url=gw.url, timeout=5)
    out = []
    for i in range(n):
        device = f"smoke-{i:04d}"
        t0 = time.perf_counter()
        client.publish(f"zigbee2mqtt/{device}", b'{"smoke": true, "battery": 90}', qos=1)
        while not http.get("/api/tickets", params={"device": device}).json():
            time.sleep(0.002)
        out.append((time.perf_counter() - t0) * 1000)
    client.loop_stop()
    client.disconnect()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--taps", type=int, default=300)
    ap.add_argument("--faults", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "mq") as broker:
        site_dir = Path(tmp) / "site"
        site_dir.mkdir()
        (site_dir / "patrol.yaml").write_text(PLAN)
        site = write_site(site_dir, site_id="bench", mqtt_url=broker.url, extra="patrol: patrol.yaml\n")
        gw = GatewayProcess(site)
        gw.start()
        try:
            base = echo_baseline(broker.port, args.taps)
            tap = taps(broker.port, args.taps)
            fault = faults(broker.port, gw, args.faults)
        finally:
            gw.stop()
    print(f"\n{'path':<34}{'p50 ms':>9}{'p99 ms':>9}{'p50 vs echo':>13}")
    for name, values in (("echo round trip (raw paho)", base), ("tap -> ack (sitegate)", tap),
                         ("fault -> ticket in API (sitegate)", fault)):
        print(f"{name:<34}{statistics.median(values):>9.2f}{pct(values, 99):>9.2f}"
              f"{statistics.median(values) / statistics.median(base):>13.1f}")


if __name__ == "__main__":
    main()
