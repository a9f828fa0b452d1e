"""Realistic MQTT traffic for benchmarks and reliability tests, published with mosquitto_pub -l."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import orjson

# One process per 50k lines: a single mosquitto_pub -l sending 200k QoS1 lines was seen to lose
# messages here (the broker logged "out of memory").
LINES_PER_PROCESS = 50_000


def zigbee_lines(n: int, *, devices: int = 200, start: int = 0) -> Iterator[tuple[str, bytes]]:
    """Zigbee2MQTT sensor states of ~120 bytes, unique per message (the `seq` field)."""
    for i in range(start, start + n):
        dev = f"B{i % 6 + 1}-sensor-{i % devices:03d}"
        yield f"zigbee2mqtt/{dev}", orjson.dumps({
            "battery": 50 + i % 50, "linkquality": 40 + i % 200, "temperature": 20.5 + (i % 10) / 10,
            "voltage": 3000 - i % 300, "contact": i % 2 == 0, "seq": i})


def native_lines(n: int, *, site: str, devices: int = 20, start: int = 0) -> Iterator[tuple[str, bytes]]:
    for i in range(start, start + n):
        yield f"sitegate/{site}/ext-{i % devices:02d}/telemetry", orjson.dumps(
            {"pressure_mpa": 1.2, "battery_pct": 90, "seq": i})


def publish(port: int, lines: Iterator[tuple[str, bytes]], *, qos: int = 1, procs: int = 0) -> int:
    """Publish with mosquitto_pub -l, grouping lines by topic; returns messages sent.

    mosquitto_pub -l takes one topic per process, so each topic gets its own process batch.
    """
    by_topic: dict[str, list[bytes]] = {}
    for topic, payload in lines:
        by_topic.setdefault(topic, []).append(payload)
    sent = 0
    running: list[subprocess.Popen[bytes]] = []
    limit = procs or 8
    for topic, payloads in by_topic.items():
        for chunk_start in range(0, len(payloads), LINES_PER_PROCESS):
            chunk = payloads[chunk_start:chunk_start + LINES_PER_PROCESS]
            while len(running) >= limit:
                running.pop(0).wait()
            proc = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", str(qos),
                                     "-t", topic, "-l"], stdin=subprocess.PIPE)
            assert proc.stdin is not None
            proc.stdin.write(b"\n".join(chunk) + b"\n")
            proc.stdin.close()
            running.append(proc)
            sent += len(chunk)
    for proc in running:
        if proc.wait() != 0:
            raise RuntimeError(f"mosquitto_pub exited {proc.returncode}")
    return sent
