"""Crash: kill -9 the gateway at random moments of a QoS1 stream with faults in it, five times.

For every kill it reports the messages in flight (published by then, minus those the gateway had
committed to its journal), and at the end the messages lost and duplicated (both must be 0), checked
per sequence number in the journal. The stream carries device
faults (extinguisher pressure 0.7 MPa, smoke alarms) so that, once the rule pack is wired, tickets
open; then no (rule, device) may have two open tickets. Without `/api/tickets` that part is skipped
with a note.

    .venv/bin/python bench/bench_crash.py [--messages 60000] [--rate 4000] [--rounds 5] [--seed 7]

The helpers here (StreamPublisher, metric, journal_seq_counts, BrokerStore) are shared with the
reliability tests.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.gateway_proc import GatewayProcess, wait_for, write_site
from tests.support.mosquitto import SITE_SETTINGS, mosquitto

Message = tuple[str, bytes]


class StreamPublisher:
    """Publishes messages 0..n-1 with QoS1 at a steady rate from its own thread.

    paho keeps every unacknowledged QoS1 message and sends it again after a reconnect, so the stream
    goes on through a broker outage. `acked` is what the broker acknowledged (PUBACK). A message that
    was unacknowledged when the connection dropped may reach the broker twice (QoS1 is at least once
    on the publisher's leg too): those sequence numbers are collected in `resent`.
    """

    def __init__(self, port: int, make: Callable[[int], Message], n: int, *, rate: float,
                 client_id: str = "reliability-publisher", max_outstanding: int = 5000) -> None:
        self.n = n
        self.rate = rate
        self.make = make
        self.max_outstanding = max_outstanding
        self.acked: set[int] = set()
        self.resent: set[int] = set()
        self.published = 0  # handed to paho
        self.disconnects = 0
        self._seen_disconnects = 0
        self._outstanding: dict[int, mqtt.MQTTMessageInfo] = {}
        self._stop = threading.Event()
        self.done = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 1)  # the publisher comes back at once; the gateway is measured
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="stream-publisher", daemon=True)

    def _on_disconnect(self, *_args: Any) -> None:
        self.disconnects += 1  # read by the publishing thread (no lock: paho holds its own here)

    def start(self) -> StreamPublisher:
        self._thread.start()
        return self

    def _settle(self) -> None:
        if self.disconnects != self._seen_disconnects:
            self._seen_disconnects = self.disconnects
            self.resent.update(self._outstanding)
        for seq in [s for s, info in self._outstanding.items() if _acknowledged(info)]:
            del self._outstanding[seq]
            self.acked.add(seq)

    def _run(self) -> None:
        started = time.monotonic()
        for seq in range(self.n):
            while not self._stop.is_set():
                if len(self._outstanding) >= self.max_outstanding:
                    self._settle()  # the broker is away: hold the rest here, as a device would
                    if len(self._outstanding) >= self.max_outstanding:
                        time.sleep(0.01)
                        continue
                delay = started + seq / self.rate - time.monotonic()
                if delay <= 0:
                    break
                time.sleep(min(delay, 0.01))
            if self._stop.is_set():
                break
            topic, payload = self.make(seq)
            self._outstanding[seq] = self.client.publish(topic, payload, qos=1)
            self.published += 1
            if seq % 100 == 0:
                self._settle()
        while self._outstanding and not self._stop.is_set():
            self._settle()
            time.sleep(0.02)
        self._settle()
        self.done.set()

    def wait(self, timeout: float) -> bool:
        """True once every message was published and acknowledged by the broker."""
        return self.done.wait(timeout) and len(self.acked) == self.n

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()


def _acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except RuntimeError:
        # Handed to paho while disconnected: it keeps the message, sends it after the reconnect and
        # sets the flag on PUBACK, but is_published() keeps raising for the first failed send.
        return bool(info._published)


class BrokerStore:
    """mosquitto's `$SYS/broker/store/messages/count`: messages the broker holds (needs sys_interval)."""

    def __init__(self, port: int) -> None:
        self.count = -1
        self.updated = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sys-watch-{port}")
        self.client.on_connect = lambda c, *_a: c.subscribe("$SYS/broker/store/messages/count", 0)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.count = int(msg.payload)
        self.updated.set()

    def value(self, timeout: float = 5.0) -> int:
        """The latest count (mosquitto republishes it, retained, each sys_interval when it changed)."""
        if not self.updated.wait(timeout):
            raise TimeoutError(f"mosquitto published no $SYS store count within {timeout}s; "
                               "is sys_interval set in its config?")
        return self.count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent, as for a counter never incremented)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def metric_by_label(text: str, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and label in sample.labels:
                out[sample.labels[label]] = float(sample.value)
    return out


def journal_seq_counts(state_db: Path, topic_like: str = "%") -> Counter[int]:
    """How often each `seq` (a field of every stream payload) is in the gateway's journal."""
    counts: Counter[int] = Counter()
    with sqlite3.connect(state_db) as db:
        for (payload,) in db.execute("SELECT payload FROM journal WHERE topic LIKE ?", (topic_like,)):
            try:
                counts[int(orjson.loads(payload)["seq"])] += 1
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return counts


def journal_rows(state_db: Path) -> int:
    with sqlite3.connect(state_db) as db:
        return int(db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])


# -- the crash benchmark -----------------------------------------------------------------------------

def faulty_stream(site: str) -> Callable[[int], Message]:
    """Mostly healthy telemetry; every 1,000 messages a low extinguisher, a smoke alarm, a recovery."""

    def make(seq: int) -> Message:
        k = seq // 1000 % 10
        phase = seq % 1000
        if phase == 500:
            return f"sitegate/{site}/ext-fault-{k}/telemetry", orjson.dumps({"pressure_mpa": 0.7, "seq": seq})
        if phase == 700:
            return f"zigbee2mqtt/smoke-{k}", orjson.dumps({"smoke": True, "battery": 90, "seq": seq})
        if phase == 900:
            return f"zigbee2mqtt/smoke-{k}", orjson.dumps({"smoke": False, "battery": 90, "seq": seq})
        return f"sitegate/{site}/ext-{seq % 40:02d}/telemetry", orjson.dumps(
            {"pressure_mpa": 1.2, "battery_pct": 90, "seq": seq})

    return make


FAULTED = {f"ext-fault-{k}" for k in range(10)} | {f"smoke-{k}" for k in range(10)}


def check_tickets(gw: GatewayProcess) -> str:
    """No (rule, device) with two live tickets, and every faulted device has its ticket."""
    r = httpx.get(gw.url + "/api/tickets", params={"limit": 5000}, timeout=10)
    if r.status_code == 404:
        return "tickets: /api/tickets answers 404 (rules and tickets not wired yet): ticket check skipped"
    r.raise_for_status()
    tickets = r.json()
    live = [t for t in tickets if t["status"] in ("open", "acknowledged")]
    keys = Counter((t["rule"], t["device_id"]) for t in live)
    dupes = {k: v for k, v in keys.items() if v > 1}
    missing = FAULTED - {t["device_id"] for t in tickets}
    rules = Counter(t["rule"] for t in tickets)
    assert not dupes, f"duplicate open tickets per (rule, device): {dupes}"
    assert not missing, f"faulted devices without a ticket (lost): {sorted(missing)}"
    return (f"tickets: {len(tickets)} in all, {len(live)} open or acknowledged, duplicates per (rule, device) 0, "
            f"faulted devices without a ticket 0 of {len(FAULTED)}; by rule: {dict(rules)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--rate", type=float, default=4000, help="messages per second offered")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    site_id = "crash"
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "mq", extra=SITE_SETTINGS) as broker:
        site = write_site(Path(tmp) / "site", site_id=site_id, mqtt_url=broker.url)
        state = Path(tmp) / "site" / "data" / "state.db"
        gw = GatewayProcess(site)
        gw.start()
        pub = StreamPublisher(broker.port, faulty_stream(site_id), args.messages, rate=args.rate).start()
        print(f"streaming {args.messages} QoS1 messages at {args.rate:.0f}/s; {args.rounds} kill -9 rounds",
              flush=True)
        print(f"{'kill':>4} {'at s':>6} {'published':>10} {'journaled':>10} {'in flight':>10} "
              f"{'restart s':>10}")
        t0 = time.monotonic()
        span = args.messages / args.rate
        for r in range(args.rounds):
            # Random moments spread over the stream, leaving its last part to run without kills.
            time.sleep(rnd.uniform(0.3, max(0.4, 0.8 * span / args.rounds)))
            gw.kill9()
            at = time.monotonic() - t0
            published = pub.published  # handed to the broker by the moment of the kill
            journaled = journal_rows(state)
            restart = time.monotonic()
            gw.start()
            print(f"{r + 1:>4} {at:>6.1f} {published:>10} {journaled:>10} {published - journaled:>10} "
                  f"{time.monotonic() - restart:>10.1f}", flush=True)
        if not pub.wait(span * 3 + 120):
            raise SystemExit(f"the broker acknowledged {len(pub.acked)} of {args.messages} messages")
        wait_for(lambda: sum(d["messages"] for d in gw.get("/api/devices")
                             if d["id"] != "gateway") >= args.messages, 300, "every message processed")
        time.sleep(2)  # let late redeliveries (there should be none) show up in the counts
        registry_total = sum(d["messages"] for d in gw.get("/api/devices") if d["id"] != "gateway")
        tickets_note = check_tickets(gw)
        redelivered = metric(httpx.get(gw.url + "/metrics", timeout=10).text,
                             "sitegate_messages_redelivered_total")
        code = gw.stop()
        pub.close()
        counts = journal_seq_counts(state)
        lost = sorted(set(range(args.messages)) - set(counts))
        dup = sorted(s for s, c in counts.items() if c > 1)
        print(f"\nmessages {args.messages}, journaled distinct {len(counts)}, lost {len(lost)}, "
              f"duplicated {len(dup)} (publisher resends: {len(pub.resent)}), registry total {registry_total}, "
              f"redeliveries skipped since the last start {redelivered:.0f}, clean stop exit {code}")
        print(tickets_note)
        if lost or dup or registry_total != args.messages or code != 0:
            raise SystemExit(f"FAILED: lost {lost[:20]} duplicated {dup[:20]}")
        print("OK: nothing lost, nothing counted twice")


if __name__ == "__main__":
    main()
