"""`sitegate record` against a real mosquitto: what devices publish lands in a capture file that
replay reads back, byte for byte."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.ingest import capture
from tests.support.gateway_proc import wait_for, write_site
from tests.support.mosquitto import Broker


@contextmanager
def recording(broker: Broker, client_id: str, args: list[str],
              env: dict[str, str] | None = None) -> Iterator[tuple[mqtt.Client, subprocess.Popen[str]]]:
    """A device client on the broker and a `sitegate record ARGS` process; both stopped at the end.
    The client publishes `ready/probe` retained first: the recorder gets it the moment it subscribes."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish("ready/probe", b"1", qos=1, retain=True).wait_for_publish(5)
    recorder = subprocess.Popen([sys.executable, "-m", "gateway", "record", "--mqtt-url", broker.url, *args],
                                stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    try:
        yield client, recorder
    finally:
        client.loop_stop()
        client.disconnect()
        recorder.kill()


SENT = [("zigbee2mqtt/smoke-1", b'{"smoke": true}'), ("tele/lamp-3/LWT", b"Offline"),
        ("sitegate/demo/cp-1/tap", '{"tag": "04A1B2C3", "note": "北门"}'.encode()), ("raw/bytes", b"\xff\x00")]


def test_recorded_messages_are_the_published_ones_in_the_replay_format(broker: Broker, tmp_path: Path) -> None:
    out = tmp_path / "night.jsonl"
    filters = [arg for f in ("ready/probe", "zigbee2mqtt/#", "tele/#", "sitegate/#", "raw/#") for arg in ("--topic", f)]
    with recording(broker, "record-test-devices", ["-o", str(out), "--count", str(1 + len(SENT)), *filters]) as (
            client, recorder):
        wait_for(lambda: out.exists() and out.stat().st_size, 20, "the recorder to subscribe")
        for topic, payload in SENT:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        stdout, _ = recorder.communicate(timeout=30)
    assert recorder.returncode == 0 and f"recorded {1 + len(SENT)} messages" in stdout
    got = [(m.topic, m.payload) for m in capture.read(out)]
    assert got == [("ready/probe", b"1"), *SENT]


def test_a_url_with_credentials_is_refused_with_the_form(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "record", "--mqtt-url", "mqtt://u:p@127.0.0.1:1",
                           "-o", str(tmp_path / "x.jsonl")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "contains a user name" in done.stderr


def test_on_a_site_timeline_messages_are_stamped_with_site_time_and_sigterm_ends_it_cleanly(
        broker: Broker, tmp_path: Path) -> None:
    out = tmp_path / "night.jsonl"
    start, until = "2026-11-18T19:00:00+08:00", "2026-11-19T02:00:00+08:00"
    # 400x from an anchor 100 real seconds ago: 11 site hours have passed, so the clock holds at --until.
    args = ["-o", str(out), "--topic", "ready/probe", "--topic", "zigbee2mqtt/#", "--start", start, "--speed", "400",
            "--real-start", str(time.time() - 100), "--until", until]
    with recording(broker, "record-test-timeline", args) as (client, recorder):
        wait_for(lambda: out.exists() and out.stat().st_size, 20, "the recorder to subscribe")
        client.publish("zigbee2mqtt/smoke-1", b'{"smoke": true}', qos=1).wait_for_publish(5)
        wait_for(lambda: len(list(capture.read(out))) == 2, 20, "the message to be recorded")
        recorder.send_signal(signal.SIGTERM)
        stdout, _ = recorder.communicate(timeout=30)
    assert recorder.returncode == 0 and "recorded 2 messages" in stdout
    assert [(m.topic, m.received_at) for m in capture.read(out)] == [
        ("ready/probe", datetime.fromisoformat(until)), ("zigbee2mqtt/smoke-1", datetime.fromisoformat(until))]


def test_with_the_site_file_it_records_exactly_what_the_sites_gateway_subscribes_to(
        broker: Broker, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", site_id="demo", mqtt_url="mqtt://127.0.0.1:1")  # --mqtt-url moves it
    out = tmp_path / "taken.jsonl"
    with recording(broker, "record-test-site", ["--config", str(site), "-o", str(out), "--count", "3"]) as (
            client, recorder):
        # The gateway's own retained status is on one of its filters (sitegate/<site>/+/status).
        client.publish("sitegate/demo/gateway/status", b"online", qos=1, retain=True).wait_for_publish(5)
        wait_for(lambda: out.exists() and out.stat().st_size, 20, "the recorder to subscribe")
        for topic, payload in [("dashboard/chatter", b"x"), ("zigbee2mqtt/smoke-1", b'{"smoke": true}'),
                               ("sitegate/demo/cp-1/ack", b"{}"), ("sitegate/demo/cp-1/tap", b'{"tag": "04A1"}')]:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        stdout, _ = recorder.communicate(timeout=30)
    assert recorder.returncode == 0 and "recorded 3 messages" in stdout
    assert [m.topic for m in capture.read(out)] == [
        "sitegate/demo/gateway/status", "zigbee2mqtt/smoke-1", "sitegate/demo/cp-1/tap"]


def test_without_a_broker_or_a_site_it_says_what_to_give(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "record", "-o", str(tmp_path / "x.jsonl")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--mqtt-url mqtt://HOST:PORT, or --config SITE.yaml" in done.stderr


def test_without_a_timeline_stamps_are_site_time_in_the_timezone_given_not_the_machines(
        broker: Broker, tmp_path: Path) -> None:
    out = tmp_path / "night.jsonl"
    # The machine runs on UTC; the site is in Shanghai (no daylight saving: +08:00 on any date).
    args = ["-o", str(out), "--count", "2", "--topic", "ready/probe", "--topic", "zigbee2mqtt/#",
            "--timezone", "Asia/Shanghai"]
    with recording(broker, "record-test-timezone", args, env={"TZ": "UTC"}) as (client, recorder):
        wait_for(lambda: out.exists() and out.stat().st_size, 20, "the recorder to subscribe")
        client.publish("zigbee2mqtt/smoke-1", b'{"smoke": true}', qos=1).wait_for_publish(5)
        stdout, _ = recorder.communicate(timeout=30)
    assert recorder.returncode == 0 and "recorded 2 messages" in stdout
    stamps = [orjson.loads(line)["ts"] for line in out.read_bytes().splitlines()]
    assert len(stamps) == 2 and all(s.endswith("+08:00") for s in stamps), stamps


def test_an_unknown_timezone_is_refused_with_what_to_give(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "record", "--mqtt-url", "mqtt://127.0.0.1:1",
                           "--timezone", "Harbor/View", "-o", str(tmp_path / "x.jsonl")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "'Harbor/View' is not a known timezone" in done.stderr
    assert not (tmp_path / "x.jsonl").exists()
