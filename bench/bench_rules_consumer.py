"""The rules consumer alone, on what the pipeline hands it during the demo site's night.

bench/profile_ingest.py's traffic (60,000 messages, 7 h 43 min of site time) goes through the whole
pipeline once while every batch and tick the rules consumer gets is recorded; then a fresh gateway's
rules consumer is fed the recording `--runs` times, its alerts kept in a list instead of going to
the tickets, and the pipeline thread's CPU for those calls is printed per message. Rule changes can
be compared in the same minute without the rest of the service's noise.

    .venv/bin/python bench/bench_rules_consumer.py [--messages 60000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_ingest import demo_traffic

from gateway.app.features import attach_features
from gateway.core.clock import FakeClock
from gateway.core.model import AlertEvent, Inbound, Processed
from gateway.core.paths import demo_site_dir
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.rules.consumer import RulesConsumer

Call = tuple[str, Any]  # ("handle", batch) or ("tick", now)


def gateway(data: str) -> tuple[Gateway, datetime]:
    site = load_site(demo_site_dir() / "site.yaml", Overrides(data=data))
    start = datetime(2026, 12, 1, 19, 30, tzinfo=site.tz)
    gw = Gateway(site, clock=FakeClock(start), connect_mqtt=False)
    attach_features(gw)
    gw.start(intake=False)
    return gw, start


def record(n: int, batch: int) -> list[Call]:
    """Run the night through the whole pipeline; answer what the rules consumer was handed."""
    calls: list[Call] = []
    handle, tick = RulesConsumer.handle, RulesConsumer.tick

    def recording_handle(self: RulesConsumer, b: Sequence[Processed]) -> None:
        calls.append(("handle", list(b)))
        handle(self, b)

    def recording_tick(self: RulesConsumer, now: datetime) -> None:
        calls.append(("tick", now))
        tick(self, now)

    RulesConsumer.handle, RulesConsumer.tick = recording_handle, recording_tick  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            gw, start = gateway(tmp)
            traffic = demo_traffic(gw.site, n, start)
            clock = gw.pipeline.clock
            assert isinstance(clock, FakeClock)
            for i in range(0, len(traffic), batch):
                part = traffic[i:i + batch]
                gw.pipeline.process([Inbound(m.topic, m.payload, m.ts.timestamp()) for m in part])
                clock.set(max(clock.now(), part[-1].ts))
                gw.pipeline.tick()
            gw.stop()
    finally:
        RulesConsumer.handle, RulesConsumer.tick = handle, tick  # type: ignore[method-assign]
    return calls


def replay(calls: list[Call]) -> tuple[float, list[AlertEvent]]:
    """CPU seconds of a fresh rules consumer fed `calls`, and the alerts it raised."""
    with tempfile.TemporaryDirectory() as tmp:
        gw, _start = gateway(tmp)
        rules = next(c for c in gw.pipeline.consumers if isinstance(c, RulesConsumer))
        alerts: list[AlertEvent] = []
        rules.alerts = alerts.extend
        cpu0 = time.thread_time()
        for kind, arg in calls:
            if kind == "handle":
                rules.handle(arg)
            else:
                rules.tick(arg)
        cpu = time.thread_time() - cpu0
        gw.stop()
    return cpu, alerts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    calls = record(args.messages, args.batch)
    messages = sum(len(arg) for kind, arg in calls if kind == "handle")
    readings = sum(len(p.decoded.readings) for kind, arg in calls if kind == "handle" for p in arg)
    gc.freeze()  # the recording lives as long as the bench, as the service's start-up objects do
    print(f"recorded {messages:,} messages ({readings:,} readings) in {len(calls):,} calls")
    for _ in range(args.runs):
        cpu, alerts = replay(calls)
        print(f"rules consumer alone: {cpu / messages * 1e6:.2f} us/msg ({cpu:.2f} s CPU), {len(alerts)} alert events")


if __name__ == "__main__":
    main()
