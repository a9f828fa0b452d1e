"""Latency through real mosquitto and a real `sitegate run` process:
- tap -> ack, accepted: guard G017 taps his card on a checkpoint's fixed reader during an active round
  (one route over every checkpoint, a round every hour whose windows span the whole hour, so a round
  is active whenever the bench runs); the ack on `sitegate/<site>/<reader>/ack` must say `ok`, so
  the figure includes identification, round matching and judgement, the journal commit and the ack;
  measured idle and again under the background load below (other checkpoints, same round);
- tap -> ack, rejected: a tag no guard holds, answered `unknown_tag` before any round is looked at;
- fault -> ticket: a Zigbee smoke alarm of a new detector, until its ticket is published on
  `sitegate/<site>/tickets/<id>` (then checked in GET /api/tickets, untimed); once with the gateway
  otherwise idle, once under a background load
  of `--load` msg/s of Zigbee sensor states (the rate actually achieved is printed);
next to an echo baseline measured in the same run, idle and under the same load (a raw paho client
that republishes each message: the broker round trip that any gateway pays).

    .venv/bin/python bench/bench_latency.py [--taps 300] [--faults 100] [--load 5000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_crash import metric
from bench.bench_overload import Feeder
from bench.traffic import SMOKE_ALARM
from tests.support.gateway_proc import GatewayProcess, write_site
from tests.support.mosquitto import mosquitto

SITE = "bench"
GUARD_CARD = "G0017"


def plan(checkpoints: int) -> str:
    """A plan whose one route has `checkpoints` fixed readers, with a round every hour whose windows
    span the hour (at 30m +/- 30m): whenever the bench runs, a round is active and each checkpoint's
    first tap in it is `ok`. One checkpoint per tap, because a second tap of a counted checkpoint in
    the same round is a `duplicate`."""
    ids = [f"cp-{i:04d}" for i in range(checkpoints)]
    cps = "\n".join(f"  - {{id: {c}, name: 检查点 {c} Checkpoint {c}, zone: north, reader: {c}}}" for c in ids)
    stops = "\n".join(f"      - {{id: {c}, at: 30m, tolerance: 30m}}" for c in ids)
    return (f"checkpoints:\n{cps}\nguards:\n  - {{id: G017, name: 王强 Wang Qiang, card: \"{GUARD_CARD}\"}}\n"
            f"routes:\n  - id: hourly\n    ordered: false\n    schedule: \"0 * * * *\"\n    limit: 60m\n"
            f"    checkpoints:\n{stops}\n")


def no_delay(client: mqtt.Client) -> None:
    """The same socket option the gateway sets (see gateway/ingest/mqtt.py), for a fair baseline."""
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class RoundTrip:
    """Publish on one topic, time until the reply that `wanted(topic, payload)` accepts arrives."""

    def __init__(self, port: int, reply_filter: str, client_id: str) -> None:
        self.got = threading.Event()
        self.reply: tuple[str, bytes] | None = None
        self.wanted: object = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        no_delay(self.client)
        self.client.subscribe(reply_filter, 1)
        self.client.loop_start()
        time.sleep(0.3)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        wanted = self.wanted
        if callable(wanted) and wanted(msg.topic, msg.payload):
            self.reply = (msg.topic, msg.payload)
            self.got.set()

    def measure(self, topic: str, payload: bytes, wanted: object = None) -> tuple[float, bytes]:
        """Milliseconds until the wanted reply (any reply when `wanted` is None), and its payload."""
        self.got.clear()
        self.wanted = wanted or (lambda _t, _p: True)
        t0 = time.perf_counter()
        self.client.publish(topic, payload, qos=1)
        if not self.got.wait(10):
            raise TimeoutError(f"no reply to {topic}")
        assert self.reply is not None
        return (time.perf_counter() - t0) * 1000, self.reply[1]

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
    out = [rt.measure("echo/in", b'{"tag":"G0017"}')[0] for _ in range(n)]
    rt.close()
    echo.loop_stop()
    echo.disconnect()
    return out


def taps(port: int, n: int, *, accepted: bool, first: int = 0) -> list[float]:
    """Accepted: the guard's card on checkpoint i's reader (its first tap this round). Rejected: a tag
    no guard holds (a different one each time, so the debounce never answers from its shortcut)."""
    rt = RoundTrip(port, f"sitegate/{SITE}/+/ack", f"bench-reader-{accepted}-{first}")
    want = "ok" if accepted else "unknown_tag"
    out = []
    for i in range(first, first + n):
        reader = f"cp-{i:04d}"
        tag = GUARD_CARD if accepted else f"X{i:05d}"
        ms, ack = rt.measure(f"sitegate/{SITE}/{reader}/tap", orjson.dumps({"tag": tag}),
                             lambda t, _p, r=reader: t == f"sitegate/{SITE}/{r}/ack")
        result = orjson.loads(ack).get("result")
        if result != want:
            raise SystemExit(f"FAILED: tap {i} of {tag} on {reader} was answered {result!r}, not {want!r}: {ack!r}")
        out.append(ms)
    rt.close()
    return out


def faults(port: int, n: int, *, first: int, api: str) -> list[float]:
    """Smoke alarms of new detectors, until each one's ticket is published (opened) on MQTT; the
    ticket must then be in the HTTP API too (checked after the clock stops, so not timed)."""
    rt = RoundTrip(port, f"sitegate/{SITE}/tickets/+", f"bench-faults-{first}")
    out = []
    for i in range(first, first + n):
        device = f"smoke-{i:04d}"

        def is_its_ticket(_t: str, payload: bytes, device: str = device) -> bool:
            doc = orjson.loads(payload)
            return bool(doc.get("device_id") == device and doc.get("status") == "open")

        out.append(rt.measure(f"zigbee2mqtt/{device}", SMOKE_ALARM, is_its_ticket)[0])
        listed = httpx.get(f"{api}/api/tickets", params={"device": device}, timeout=10).json()
        if not any(t.get("device_id") == device for t in listed):
            raise SystemExit(f"FAILED: the ticket of {device} was on MQTT but not in GET /api/tickets")
    rt.close()
    return out


def received(gw: GatewayProcess) -> float:
    return metric(httpx.get(gw.url + "/metrics", timeout=10).text, "sitegate_messages_received_total")


def under_load(port: int, gw: GatewayProcess, rate: float, what: str,
               measure: Callable[[], list[float]]) -> tuple[list[float], str]:
    """`measure` run while mosquitto_pub processes offer `rate` msg/s; answers the rates achieved."""
    feeder = Feeder(port, rate)
    feeder.start()
    time.sleep(3)  # the load settles (and a backlog, if the gateway cannot keep up, shows)
    t0, offered0, got0 = time.monotonic(), feeder.offered, received(gw)
    try:
        out = measure()
    finally:
        seconds = time.monotonic() - t0
        offered, got = feeder.offered - offered0, received(gw) - got0
        feeder.stop()
    note = (f"background load during the {seconds:.1f}s of loaded {what}: offered {offered / seconds:,.0f} msg/s "
            f"(target {rate:,.0f}), processed by the gateway {got / seconds:,.0f} msg/s")
    return out, note


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--taps", type=int, default=300)
    ap.add_argument("--faults", type=int, default=100)
    ap.add_argument("--load", type=float, default=5000, help="background msg/s during the loaded taps and faults")
    ap.add_argument("--batch-max", type=int, default=None, help="the site's ingest.batch_max (default: its default)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "mq") as broker:
        site_dir = Path(tmp) / "site"
        site_dir.mkdir()
        (site_dir / "patrol.yaml").write_text(plan(2 * args.taps))  # idle taps, then loaded ones
        site = write_site(site_dir, site_id=SITE, mqtt_url=broker.url, extra="patrol: patrol.yaml\n" + (
            f"ingest: {{batch_max: {args.batch_max}}}\n" if args.batch_max else ""))
        gw = GatewayProcess(site)
        gw.start()
        try:
            base = echo_baseline(broker.port, args.taps)
            ok = taps(broker.port, args.taps, accepted=True)
            rejected = taps(broker.port, args.taps, accepted=False)
            idle = faults(broker.port, args.faults, first=0, api=gw.url)
            echo_loaded, _note = under_load(broker.port, gw, args.load, "echoes",
                                            lambda: echo_baseline(broker.port, args.taps))
            ok_loaded, taps_note = under_load(broker.port, gw, args.load, "accepted taps", lambda: taps(
                broker.port, args.taps, accepted=True, first=args.taps))
            loaded, load_note = under_load(broker.port, gw, args.load, "faults", lambda: faults(
                broker.port, args.faults, first=args.faults, api=gw.url))
        finally:
            gw.stop()
    print(f"\n{'path':<44}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'p50 vs echo':>13}")
    echo_p50 = statistics.median(base)
    for name, values in (("echo round trip (raw paho)", base),
                         (f"echo round trip, {args.load:,.0f} msg/s load", echo_loaded),
                         ("tap -> ack, accepted (ok, sitegate)", ok),
                         (f"tap -> ack, accepted, {args.load:,.0f} msg/s load", ok_loaded),
                         ("tap -> ack, rejected (unknown_tag, sitegate)", rejected),
                         ("fault -> ticket on MQTT, idle", idle),
                         (f"fault -> ticket on MQTT, {args.load:,.0f} msg/s load", loaded)):
        p50 = statistics.median(values)
        print(f"{name:<44}{p50:>9.2f}{pct(values, 95):>9.2f}{pct(values, 99):>9.2f}{p50 / echo_p50:>13.1f}")
    print(taps_note)
    print(load_note)


if __name__ == "__main__":
    main()
