"""Ingest throughput: the gateway's QoS1 path against a raw paho subscriber and mosquitto_sub.

All three drain the same backlog from the same mosquitto in the same run: each gets a persistent
session first, then N QoS1 messages are published while all are offline, then each drains its
queue in turn and is timed. The gateway's number includes decode, the device registry, the SQLite
journal (group commit) and the ack after commit.

    .venv/bin/python bench/bench_ingest.py [--messages 100000] [--rounds 1] [--features]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.traffic import publish, zigbee_lines
from gateway.app.features import attach_features
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from tests.support.mosquitto import SITE_SETTINGS, mosquitto

TOPIC = "zigbee2mqtt/#"


def raw_paho(port: int, n: int, *, connect_only: bool = False) -> float:
    """Time for a plain paho QoS1 subscriber (auto ack, counting only) to receive n messages."""
    done = threading.Event()
    count = 0
    started = 0.0

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal count, started
        if count == 0:
            started = time.perf_counter()
        count += 1
        if count >= n:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", clean_session=False)
    client.max_inflight_messages_set(1000)
    client.on_message = on_message
    client.on_connect = lambda c, *_a: c.subscribe(TOPIC, 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    if connect_only:
        time.sleep(1)
    else:
        done.wait(600)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


def mosquitto_sub(port: int, n: int, *, connect_only: bool = False) -> float:
    args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-c", "-i", "bench-sub", "-q", "1",
            "-t", TOPIC]
    if connect_only:
        subprocess.run([*args, "-E"], check=True)
        return 0.0
    started = time.perf_counter()
    subprocess.run([*args, "-C", str(n)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def gateway(port: int, data: Path, n: int, *, connect_only: bool = False, features: bool = False) -> float:
    site = load_site(None, Overrides(mqtt_url=f"mqtt://127.0.0.1:{port}", data=str(data)))
    gw = Gateway(site)
    if features:  # rules -> tickets, time series (embedded store), as `sitegate run` does
        attach_features(gw)
    gw.start()
    assert gw.mqtt is not None
    gw.mqtt.connected.wait(10)
    started = time.perf_counter()
    if not connect_only:
        while gw.pipeline.processed < n:
            time.sleep(0.01)
    elapsed = time.perf_counter() - started
    gw.stop()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--features", action="store_true",
                    help="also run rules, tickets and the embedded time-series store (the whole service)")
    args = ap.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "mq", extra=SITE_SETTINGS) as broker:
        data = Path(tmp) / "data"
        for connect in (raw_paho, mosquitto_sub):
            connect(broker.port, 0, connect_only=True)
        gateway(broker.port, data, 0, connect_only=True, features=args.features)
        results: dict[str, list[float]] = {"mosquitto_sub": [], "raw paho": [], "sitegate": []}
        for r in range(args.rounds):
            t0 = time.perf_counter()
            publish(broker.port, zigbee_lines(n, start=r * n))
            print(f"round {r + 1}: published {n} QoS1 messages in {time.perf_counter() - t0:.1f}s "
                  "(all subscribers offline)", flush=True)
            results["mosquitto_sub"].append(n / mosquitto_sub(broker.port, n))
            results["raw paho"].append(n / raw_paho(broker.port, n))
            results["sitegate"].append(n / gateway(broker.port, data, n, features=args.features))
        raw = max(results["raw paho"])
        print(f"\n{'subscriber':<15}{'msg/s (best)':>14}{'vs raw paho':>14}")
        for name, rates in results.items():
            best = max(rates)
            print(f"{name:<15}{best:>14,.0f}{best / raw:>14.2f}")


if __name__ == "__main__":
    main()
