"""Overload: publishers at about twice the gateway's throughput for 60 s, then the backlog drains.

First the gateway's own QoS1 throughput is measured (a backlog published while it is offline, drained
by the real `sitegate run` process). Then mosquitto_pub processes offer `--factor` times that rate for
`--seconds`. Every second the gateway's RSS, the broker's stored messages ($SYS store count) and the
gateway's received count are sampled. It shows: memory stays bounded (ingest.max_pending holds
intake, TCP and the broker hold the rest), nothing is dropped (every device's message count equals
what was published to it), and the time the backlog takes to drain once publishing stops.

The broker runs with `max_queued_messages 10000000` and `max_queued_bytes 0` (no byte cap): the
backlog of a minute of overload is far above the site setting of 1,000,000 in the README only when
the gateway is very slow; Debian's default of 1000 would drop QoS1 messages within a second.

    .venv/bin/python bench/bench_overload.py [--seconds 60] [--factor 2] [--calibrate 50000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_crash import BrokerStore, metric
from bench.traffic import publish, zigbee_lines
from tests.support.gateway_proc import GatewayProcess, wait_for, write_site
from tests.support.mosquitto import mosquitto

BROKER = "max_queued_messages 10000000\nmax_queued_bytes 0\nmax_inflight_messages 1000\nsys_interval 1\n"
FEEDERS = 4  # mosquitto_pub processes at a time (one topic, i.e. one device, each)
LINES_PER_FEEDER = 50_000  # a single mosquitto_pub -l was seen to lose messages past ~200k lines


@dataclass
class Sample:
    t: float
    rss_mb: float
    broker_rss_mb: float
    stored: int
    received: int
    offered: int
    pending: int


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS in /proc/PID/status), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"process {pid} has no VmRSS line: has it exited?")


def received(gw: GatewayProcess) -> int:
    return int(metric(httpx.get(gw.url + "/metrics", timeout=10).text, "sitegate_messages_received_total"))


def calibrate(gw: GatewayProcess, port: int, n: int) -> float:
    """msg/s the gateway drains a QoS1 backlog of n messages at (measured from the first poll that
    sees it started, to the poll that sees 90% done; the counter starts at 0 with the process)."""
    gw.stop()
    publish(port, zigbee_lines(n))
    gw.start()
    first: tuple[float, int] | None = None
    rate = 0.0
    while True:
        got, now = received(gw), time.monotonic()
        if first is None and got > 0:
            first = (now, got)
        if first is not None and got >= 0.9 * n and rate == 0:
            rate = (got - first[1]) / max(now - first[0], 1e-3)
        if got >= n:  # all of it, so the overload phase counts from a clean zero
            return rate
        time.sleep(0.05)


@dataclass
class Feed:
    proc: subprocess.Popen[bytes]
    device: str
    written: int = 0


class Feeder:
    """Offers `rate` msg/s through FEEDERS mosquitto_pub -l processes; counts what each device got."""

    def __init__(self, port: int, rate: float) -> None:
        self.port = port
        self.rate = rate
        self.offered = 0
        self.per_device: Counter[str] = Counter()
        self.failures = 0
        self._feeds: list[Feed] = []
        self._reapers: list[threading.Thread] = []
        self._next_device = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _spawn(self) -> Feed:
        device = f"ovl-{self._next_device:03d}"
        self._next_device += 1
        proc = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1",
                                 "-t", f"zigbee2mqtt/{device}", "-l"], stdin=subprocess.PIPE)
        return Feed(proc, device)

    def start(self) -> None:
        self._feeds = [self._spawn() for _ in range(FEEDERS)]
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            todo = int(self.rate * (time.monotonic() - started)) - self.offered
            share = -(-todo // FEEDERS) if todo > 0 else 0
            for i, feed in enumerate(self._feeds):
                k = min(share, todo, LINES_PER_FEEDER - feed.written)
                if k <= 0:
                    continue
                lines = b"".join(orjson.dumps({"battery": 90, "linkquality": 120, "temperature": 21.5,
                                               "voltage": 3000, "contact": True, "seq": self.offered + j})
                                 + b"\n" for j in range(k))
                assert feed.proc.stdin is not None
                feed.proc.stdin.write(lines)  # blocks when mosquitto_pub falls behind: the offer drops
                feed.proc.stdin.flush()
                self.per_device[feed.device] += k
                self.offered += k
                todo -= k
                feed.written += k
                if feed.written >= LINES_PER_FEEDER:
                    self._finish(feed)
                    self._feeds[i] = self._spawn()
            time.sleep(0.05)

    def _finish(self, feed: Feed) -> None:
        assert feed.proc.stdin is not None
        feed.proc.stdin.close()  # mosquitto_pub sends the rest, waits for the PUBACKs, and exits
        reaper = threading.Thread(target=self._reap, args=(feed.proc,), daemon=True)
        reaper.start()
        self._reapers.append(reaper)

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.wait() != 0:
            self.failures += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for feed in self._feeds:
            self._finish(feed)
        for reaper in self._reapers:
            reaper.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--factor", type=float, default=2.0)
    ap.add_argument("--calibrate", type=int, default=50_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "mq", extra=BROKER) as broker:
        site = write_site(Path(tmp) / "site", site_id="ovl", mqtt_url=broker.url)
        gw = GatewayProcess(site)
        gw.start()
        rate = calibrate(gw, broker.port, args.calibrate)
        target = args.factor * rate
        print(f"gateway throughput (QoS1 backlog drain): {rate:,.0f} msg/s; offering {target:,.0f} msg/s "
              f"for {args.seconds:.0f}s", flush=True)
        assert gw.proc is not None
        assert broker.proc is not None
        me, mq = gw.proc.pid, broker.proc.pid
        store = BrokerStore(broker.port)
        base = received(gw)
        samples: list[Sample] = []
        feeder = Feeder(broker.port, target)
        t0 = time.monotonic()
        feeder.start()

        def sample() -> Sample:
            health = gw.get("/api/health")
            s = Sample(time.monotonic() - t0, rss_mb(me), rss_mb(mq),
                       store.value(), received(gw) - base, feeder.offered, int(health["pending"]))
            samples.append(s)
            return s

        print(f"{'t s':>5} {'gateway RSS MB':>15} {'broker RSS MB':>14} {'broker stored':>14} "
              f"{'offered':>10} {'processed':>10} {'pending':>8}")

        def show(s: Sample) -> None:
            print(f"{s.t:>5.0f} {s.rss_mb:>15.1f} {s.broker_rss_mb:>14.1f} {s.stored:>14} {s.offered:>10} "
                  f"{s.received:>10} {s.pending:>8}", flush=True)

        while time.monotonic() - t0 < args.seconds:
            time.sleep(max(0.0, 1 - (time.monotonic() - t0) % 1))
            s = sample()
            if int(s.t) % 5 == 0:
                show(s)
        feeder.stop()
        published = feeder.offered
        t_stop = time.monotonic()
        at_stop = samples[-1]
        print(f"publishing stopped at {t_stop - t0:.0f}s: {published} offered "
              f"({published / args.seconds:,.0f} msg/s), {at_stop.received} processed meanwhile "
              f"({at_stop.received / args.seconds:,.0f} msg/s)", flush=True)
        while received(gw) - base < published:
            time.sleep(max(0.0, 1 - (time.monotonic() - t0) % 1))
            s = sample()
            if int(s.t) % 5 == 0:
                show(s)
        drain = time.monotonic() - t_stop
        show(sample())
        wait_for(lambda: store.value() < 200, 30, "the broker to release the acknowledged backlog")
        devices = {d["id"]: d["messages"] for d in gw.get("/api/devices")}
        lost = {d: n - devices.get(d, 0) for d, n in feeder.per_device.items() if devices.get(d, 0) != n}
        store.close()
        code = gw.stop()
        peak = max(samples, key=lambda s: s.rss_mb)
        print(f"\npeak gateway RSS {peak.rss_mb:.1f} MB at {peak.t:.0f}s (first sample {samples[0].rss_mb:.1f} MB); "
              f"peak broker backlog {max(s.stored for s in samples)} messages; "
              f"max pending in gateway {max(s.pending for s in samples)}")
        print(f"backlog drained {drain:.1f}s after publishing stopped; devices whose count differs from "
              f"what was published: {len(lost)}; publisher failures {feeder.failures}; clean stop exit {code}")
        if lost or feeder.failures or code != 0:
            raise SystemExit(f"FAILED: {lost}")


if __name__ == "__main__":
    main()
