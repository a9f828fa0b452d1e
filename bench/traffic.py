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


SMOKE_ALARM = b'{"smoke": true, "battery": 90}'


def smoke_device(i: int) -> str:
    return f"smoke-{i:06d}"


def zigbee_with_faults(n: int, *, every: int, devices: int = 200, start: int = 0) -> Iterator[tuple[str, bytes]]:
    """`zigbee_lines`, except that message i with i % every == every - 1 is a smoke alarm of its own
    detector (`smoke_device(i)`): one fault, so one ticket, per alarm. Fields per message (as the
    zigbee2mqtt profile decodes them): 5 for a sensor state, 2 (smoke, battery_pct) for an alarm."""
    for (topic, payload), i in zip(zigbee_lines(n, devices=devices, start=start), range(start, start + n),
                                   strict=True):
        if every and i % every == every - 1:
            yield f"zigbee2mqtt/{smoke_device(i)}", SMOKE_ALARM
        else:
            yield topic, payload


def faults_in(n: int, *, every: int, start: int = 0) -> int:
    """How many of the messages start .. start+n-1 of `zigbee_with_faults` are smoke alarms."""
    return sum(1 for i in range(start, start + n) if every and i % every == every - 1)


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
