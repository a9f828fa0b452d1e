"""Fuzz through the real broker: hypothesis-made payloads for every profile topic, random bytes and
random topics under the gateway's subscriptions, published with QoS1 to a running `sitegate run`.

Every message must be counted (`sitegate_messages_received_total` grows by exactly what was sent),
every rejection counted by reason exactly as the decoder (run here on the same messages, with the
same limits) says, and the dead letters kept within `ingest.deadletter_max`; the process stays up
and healthy.

    .venv/bin/python bench/bench_fuzz.py [--cases 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_crash import metric, metric_by_label
from gateway.core.model import RawMessage
from gateway.core.paths import devices_dir
from gateway.core.siteload import Overrides, load_site
from gateway.devices.decoder import Decoder
from gateway.devices.loader import load_profiles
from tests.support.gateway_proc import GatewayProcess, wait_for, write_site
from tests.support.mosquitto import SITE_SETTINGS, mosquitto
from tests.test_decode_fuzz import KEYS, MAPPED, TOPICS, _nest, json_trees, scalars

Message = tuple[str, bytes]
SITE = "demo"  # the site id the decoder fuzz tests' concrete topics use
# Small limits, so the fuzz reaches them: oversize payloads, the discovery bound, dead-letter pruning.
INGEST = {"max_payload_bytes": 4096, "max_devices": 100, "deadletter_max": 500}
SENTINEL: Message = ("zigbee2mqtt/fuzz-sentinel", b"{end of fuzz")  # last message: invalid_json


def _allowed(ch: str) -> bool:
    # mosquitto disconnects a client whose topic has control characters or Unicode non-characters
    # (MQTT 3.1.1, 1.5.3); a real device cannot send those, so they are not fuzzed here.
    cp = ord(ch)
    return not (0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFF) in (0xFFFE, 0xFFFF))


LEVEL_CHARS = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="+#/\0").filter(_allowed)


def level(max_size: int) -> st.SearchStrategy[str]:
    return st.text(LEVEL_CHARS, max_size=max_size)


def topic_under(filter_: str) -> st.SearchStrategy[str]:
    """Concrete topics that `filter_` matches ('+' levels replaced by random text, rarely very long; a
    final '#' by zero to four levels, as under Zigbee2MQTT's root where names may hold '/')."""
    parts = filter_.split("/")
    rest = parts[-1] == "#"
    levels = [level(24) | level(300) if p == "+" else st.just(p) for p in (parts[:-1] if rest else parts)]
    head = st.tuples(*levels).map("/".join)
    if rest:
        tail = st.lists(level(24), max_size=4)
        head = st.tuples(head, tail).map(lambda ht: "/".join([ht[0], *ht[1]]) if ht[0] else "/".join(ht[1]))
    # A first level starting with '$' is not matched by a wildcard: the broker would not deliver it.
    return head.filter(lambda t: bool(t) and not t.startswith("$"))


def payloads() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        json_trees.map(_json),
        st.integers(INGEST["max_payload_bytes"] - 2, INGEST["max_payload_bytes"] + 200).map(
            lambda k: b"{" + b"7" * k))


def messages(filters: list[str]) -> st.SearchStrategy[Message]:
    """Every kind of message the gateway may meet on the topics it subscribes to."""
    profile_payload = st.one_of(
        st.tuples(st.sampled_from(TOPICS), payloads()),
        st.builds(lambda case, leaf, other: (case[0], _json({**other, **_nest(case[1], leaf)})),
                  st.sampled_from(MAPPED), st.one_of(scalars, st.lists(scalars, max_size=4)),
                  st.dictionaries(st.sampled_from(KEYS), scalars, max_size=4)),
        st.builds(_spiced, st.sampled_from(TOPICS), st.dictionaries(st.sampled_from(KEYS), scalars, max_size=6),
                  st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "nan", '"\\ud800"'])),
    )
    random_topic = st.sampled_from(filters).flatmap(topic_under)
    return st.one_of(profile_payload, st.tuples(random_topic, payloads()))


def _json(tree: Any) -> bytes:
    return json.dumps(tree).encode()  # the stdlib: integers beyond 64 bits too, as devices may send


def _spiced(topic: str, obj: dict[str, Any], spice: str) -> Message:
    body = json.dumps(obj)
    return topic, (body[:-1] + ("," if obj else "") + f'"battery": {spice}}}').encode()


def generate(n: int, filters: list[str], sink: Callable[[Message], None], *, seed_: int) -> None:
    """Hand n hypothesis-made messages to `sink` (generation only: nothing to shrink)."""

    @seed(seed_)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(msg=messages(filters))
    def run(msg: Message) -> None:
        sink(msg)

    run()


@dataclass
class Expected:
    """What the gateway must count, from decoding the same messages here with the same limits."""

    decoder: Decoder
    known: set[str]
    max_devices: int
    sent: int = 0
    first_reasons: Counter[str] = field(default_factory=Counter)  # per message, as /metrics counts
    rejections: int = 0  # every rejection, as dead letters are kept

    def add(self, msg: Message) -> None:
        self.sent += 1
        decoded = self.decoder.decode(RawMessage(msg[0], msg[1], datetime.now(UTC)))
        reasons = [r.reason for r in decoded.rejections]
        if decoded.device is not None and not decoded.rejected and decoded.device not in self.known:
            if len(self.known) >= self.max_devices:
                reasons = ["device_limit"]
            else:
                self.known.add(decoded.device)
        if reasons:
            self.first_reasons[reasons[0]] += 1
        self.rejections += len(reasons)


@dataclass
class FuzzResult:
    sent: int
    generated_per_s: float
    received: int
    rejected: dict[str, int]
    expected: dict[str, int]
    deadletters: int
    deadletter_max: int
    devices: int
    health: str
    alive: bool
    publisher_disconnects: int
    seconds: float


class Publisher:
    def __init__(self, port: int) -> None:
        self.disconnects = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fuzz-publisher")
        self.client.max_inflight_messages_set(500)
        self.client.max_queued_messages_set(0)

        self.closing = False

        def on_disconnect(*_a: Any) -> None:
            if not self.closing:  # the broker dropped us: it refused a publish
                self.disconnects += 1

        self.client.on_disconnect = on_disconnect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def __call__(self, msg: Message) -> None:
        self.infos.append(self.client.publish(msg[0], msg[1], qos=1))
        if len(self.infos) >= 2000:  # keep paho's queue short: wait for the oldest acks
            for info in self.infos[:1000]:
                info.wait_for_publish(30)
            del self.infos[:1000]

    def close(self) -> None:
        for info in self.infos:
            info.wait_for_publish(30)
        self.closing = True
        self.client.disconnect()
        self.client.loop_stop()


def site_extra() -> str:
    return "ingest: {" + ", ".join(f"{k}: {v}" for k, v in INGEST.items()) + "}\n"


def run_fuzz(gw: GatewayProcess, port: int, site_file: Path, n: int, *, seed_: int = 1) -> FuzzResult:
    """Publish n fuzz cases and the sentinel to a running gateway; collect what it counted."""
    started = time.monotonic()
    site = load_site(site_file, Overrides())
    ing = site.ingest
    decoder = Decoder(load_profiles([devices_dir(), *site.devices.profiles]), site_id=site.site.id, tz=site.tz,
                      max_payload_bytes=ing.max_payload_bytes, max_topic_length=ing.max_topic_length,
                      max_clock_skew=ing.max_clock_skew, params=site.devices.params)
    before = httpx.get(gw.url + "/metrics", timeout=10).text
    received0 = metric(before, "sitegate_messages_received_total")
    rejected0 = metric_by_label(before, "sitegate_messages_rejected_total", "reason")
    expected = Expected(decoder, {d["id"] for d in gw.get("/api/devices")}, ing.max_devices)
    pub = Publisher(port)

    def sink(msg: Message) -> None:
        expected.add(msg)
        pub(msg)

    t0 = time.monotonic()
    generate(n, decoder.subscriptions(), sink, seed_=seed_)
    generated_per_s = expected.sent / (time.monotonic() - t0)
    sink(SENTINEL)
    pub.close()
    wait_for(lambda: metric(httpx.get(gw.url + "/metrics", timeout=10).text,
                            "sitegate_messages_received_total") - received0 >= expected.sent, 120,
             "every fuzz message received")
    wait_for(lambda: gw.get("/api/deadletters", limit=1)[0]["topic"] == SENTINEL[0], 30, "the sentinel")
    after = httpx.get(gw.url + "/metrics", timeout=10).text
    rejected = {k: int(v - rejected0.get(k, 0)) for k, v in
                metric_by_label(after, "sitegate_messages_rejected_total", "reason").items()}
    assert gw.proc is not None
    return FuzzResult(
        sent=expected.sent, generated_per_s=generated_per_s,
        received=int(metric(after, "sitegate_messages_received_total") - received0),
        rejected={k: v for k, v in rejected.items() if v}, expected=dict(expected.first_reasons),
        deadletters=len(gw.get("/api/deadletters", limit=10_000)), deadletter_max=ing.deadletter_max,
        devices=len(gw.get("/api/devices")), health=str(gw.get("/api/health")["status"]),
        alive=gw.proc.poll() is None, publisher_disconnects=pub.disconnects,
        seconds=time.monotonic() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "mq", extra=SITE_SETTINGS) as broker:
        site = write_site(Path(tmp) / "site", site_id=SITE, mqtt_url=broker.url, extra=site_extra())
        gw = GatewayProcess(site)
        gw.start()
        try:
            r = run_fuzz(gw, broker.port, site, args.cases, seed_=args.seed)
        finally:
            code = gw.stop()
        print(f"seed {args.seed}: {r.sent} messages ({args.cases} fuzz cases + sentinel) in {r.seconds:.0f}s, "
              f"generated at {r.generated_per_s:,.0f}/s")
        print(f"received {r.received}, process alive {r.alive}, health {r.health}, clean stop exit {code}, "
              f"publisher disconnects {r.publisher_disconnects}")
        print(f"devices {r.devices}, dead letters listed {r.deadletters} (deadletter_max {r.deadletter_max})")
        print(f"{'reason':<16}{'counted':>10}{'expected':>10}")
        for reason in sorted(set(r.rejected) | set(r.expected)):
            print(f"{reason:<16}{r.rejected.get(reason, 0):>10}{r.expected.get(reason, 0):>10}")
        ok = (r.received == r.sent and r.alive and r.health == "ok" and code == 0 and r.rejected == r.expected
              and r.publisher_disconnects == 0)
        print(json_line(r))
        raise SystemExit(0 if ok else "FAILED")


def json_line(r: FuzzResult) -> str:
    return orjson.dumps({"sent": r.sent, "received": r.received, "rejected": r.rejected}).decode()


if __name__ == "__main__":
    main()
