"""Ingest throughput: the gateway's QoS1 path against a raw paho subscriber and mosquitto_sub.

All three drain the same backlog from the same mosquitto in the same run: each gets a persistent
session first, then N QoS1 messages are published while all are offline, then each drains its
queue in turn and is timed. The gateway's number includes decode, the device registry, the SQLite
journal (group commit) and the ack after commit.

With `--features` (the whole service: rules -> tickets, patrol, the embedded time-series store), one
message in `--fault-every` is a smoke alarm of its own detector, and the gateway's clock stops only
when every message's `reading` point is committed (queryable) in the embedded store and every alarm's
ticket is written, not when the journal holds the messages: the store's writer thread drains its
backlog after the journal. Both times are printed ("journal" and "stored"); the counts are checked
against the traffic (points, field rows, tickets), and the run fails if anything is missing.

    .venv/bin/python bench/bench_ingest.py [--messages 100000] [--rounds 1] [--features] [--fault-every 1000]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.traffic import faults_in, publish, zigbee_lines, zigbee_with_faults
from gateway.app.features import attach_features
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.tickets.feature import store_url
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


@dataclass
class Expected:
    """What the traffic published so far should leave in the stores (cumulative over rounds)."""

    points: int = 0  # one `reading` point per message (all its readings share the message's time)
    rows: int = 0  # one row per field: 5 per sensor state, 2 per smoke alarm
    tickets: int = 0  # one per smoke alarm (each of its own detector)

    def add(self, n: int, faults: int) -> None:
        self.points += n
        self.rows += 5 * (n - faults) + 2 * faults
        self.tickets += faults


@dataclass
class Stored:
    points: int
    rows: int
    tickets: int
    other_tickets: dict[str, int]


class StoreProbe:
    """Reads what the gateway committed, through its own read-only SQLite connections (what a query sees)."""

    def __init__(self, ts_db: Path, tickets_db: Path) -> None:
        self.ts = sqlite3.connect(f"file:{ts_db}?mode=ro", uri=True)
        self.tickets = sqlite3.connect(f"file:{tickets_db}?mode=ro", uri=True)

    def points(self) -> int:
        # battery_pct is in every message of the traffic, so its rows count the reading points.
        return int(self.ts.execute(
            "SELECT count(*) FROM raw WHERE series IN "
            "(SELECT id FROM series WHERE measurement = 'reading' AND field = 'battery_pct')").fetchone()[0])

    def smoke_tickets(self) -> int:
        return int(self.tickets.execute("SELECT count(*) FROM tickets WHERE device_id LIKE 'smoke-%'").fetchone()[0])

    def stored(self) -> Stored:
        rows = int(self.ts.execute("SELECT count(*) FROM raw JOIN series ON series.id = raw.series "
                                   "WHERE series.measurement = 'reading'").fetchone()[0])
        other = dict(self.tickets.execute("SELECT rule, count(*) FROM tickets WHERE device_id NOT LIKE 'smoke-%' "
                                          "GROUP BY rule").fetchall())
        return Stored(self.points(), rows, self.smoke_tickets(), other)

    def close(self) -> None:
        self.ts.close()
        self.tickets.close()


@dataclass
class Drain:
    journal_s: float  # until the journal held every message (the old clock)
    stored_s: float  # until every point was queryable and every ticket written
    stored: Stored | None
    dropped: int  # points the time-series writer refused (its inbox full)


def gateway(port: int, data: Path, n: int, *, connect_only: bool = False, features: bool = False,
            expected: Expected | None = None, stall_s: float = 30.0) -> Drain:
    site = load_site(None, Overrides(mqtt_url=f"mqtt://127.0.0.1:{port}", data=str(data)))
    gw = Gateway(site)
    if features:  # rules -> tickets, patrol, time series (embedded store), as `sitegate run` does
        attach_features(gw)
    gw.start()
    assert gw.mqtt is not None
    gw.mqtt.connected.wait(10)
    started = time.perf_counter()
    journal_s = stored_s = 0.0
    stored: Stored | None = None
    dropped = 0
    if not connect_only:
        while gw.pipeline.processed < n:
            time.sleep(0.01)
        journal_s = stored_s = time.perf_counter() - started
        if features:
            assert expected is not None
            ts = gw.features["timeseries"]
            probe = StoreProbe(ts.store.path, Path(store_url(gw).removeprefix("sqlite:///")))
            # Poll what a reader sees; give up when nothing moves for stall_s (something was dropped).
            last, moved = (-1, -1), time.perf_counter()
            while True:
                now_counts = (probe.points(), probe.smoke_tickets())
                if now_counts[0] >= expected.points and now_counts[1] >= expected.tickets:
                    stored_s = time.perf_counter() - started
                    break
                if now_counts != last:
                    last, moved = now_counts, time.perf_counter()
                elif time.perf_counter() - moved > stall_s:
                    stored_s = float("nan")
                    break
                time.sleep(0.02)
            stored = probe.stored()
            probe.close()
            dropped = ts.writer.dropped()
    gw.stop()
    return Drain(journal_s, stored_s, stored, dropped)


def check(stored: Stored, expected: Expected, dropped: int) -> list[str]:
    """Differences between what is stored and what the traffic should have left (empty: none lost)."""
    problems = []
    for what in ("points", "rows", "tickets"):
        got, want = getattr(stored, what), getattr(expected, what)
        if got != want:
            problems.append(f"{what}: {got:,} stored, {want:,} expected ({got - want:+,})")
    if dropped:
        problems.append(f"the time-series writer dropped {dropped:,} points")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--features", action="store_true",
                    help="also run rules, tickets, patrol and the embedded time-series store (the whole service)")
    ap.add_argument("--fault-every", type=int, default=1000,
                    help="with --features: one message in this many is a smoke alarm (0: none)")
    args = ap.parse_args()
    n = args.messages
    every = args.fault_every if args.features else 0
    expected = Expected()
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "mq", extra=SITE_SETTINGS) as broker:
        data = Path(tmp) / "data"
        for connect in (raw_paho, mosquitto_sub):
            connect(broker.port, 0, connect_only=True)
        gateway(broker.port, data, 0, connect_only=True, features=args.features)
        results: dict[str, list[float]] = {"mosquitto_sub": [], "raw paho": [], "sitegate": []}
        if args.features:
            results = {**results, "sitegate": [], "sitegate stored": []}
        for r in range(args.rounds):
            t0 = time.perf_counter()
            faults = faults_in(n, every=every, start=r * n)
            publish(broker.port, zigbee_with_faults(n, every=every, start=r * n) if every
                    else zigbee_lines(n, start=r * n))
            expected.add(n, faults)
            print(f"round {r + 1}: published {n} QoS1 messages ({faults} smoke alarms) in "
                  f"{time.perf_counter() - t0:.1f}s (all subscribers offline)", flush=True)
            results["mosquitto_sub"].append(n / mosquitto_sub(broker.port, n))
            results["raw paho"].append(n / raw_paho(broker.port, n))
            drain = gateway(broker.port, data, n, features=args.features, expected=expected)
            results["sitegate"].append(n / drain.journal_s)
            if drain.stored is not None:
                results["sitegate stored"].append(n / drain.stored_s)
                s = drain.stored
                print(f"round {r + 1}: journal held all after {drain.journal_s:.2f}s, stored after "
                      f"{drain.stored_s:.2f}s; reading points {s.points:,}/{expected.points:,}, field rows "
                      f"{s.rows:,}/{expected.rows:,}, smoke tickets {s.tickets:,}/{expected.tickets:,} "
                      f"(other tickets: {s.other_tickets or 'none'}), points dropped by the writer "
                      f"{drain.dropped}", flush=True)
                problems += check(s, expected, drain.dropped)
        raw = max(results["raw paho"])
        labels = {"sitegate": "sitegate journal" if args.features else "sitegate"}
        print(f"\n{'subscriber':<17}{'msg/s (best)':>14}{'vs raw paho':>14}")
        for name, rates in results.items():
            best = max(rates)
            print(f"{labels.get(name, name):<17}{best:>14,.0f}{best / raw:>14.2f}")
        if args.features:
            print("\nsitegate journal: until the journal held every message (the clock before issue 14); "
                  "sitegate stored: until every point was queryable and every ticket written")
    if problems:
        raise SystemExit("FAILED, not everything was stored:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
