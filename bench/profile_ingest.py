"""Where the whole service spends its time, in-process, on the demo site's traffic mix.

The demo site (examples/demo-site: inventory, patrol plan, rules) with every feature attached, no
broker: the simulator behind `sitegate demo` makes a night of traffic from 2026-12-01 19:30 site time
(lamps, panel meters, lux sensors, pressure transmitters, smoke detectors, fire doors, readers in
Zigbee2MQTT, Tasmota, Shelly and native conventions, guards' taps, the night's faults), and it is
fed through `pipeline.process()` in batches on a fake clock that follows the traffic, with the
pipeline's timers ticked after each batch, as replay does. That runs decode, registry, journal,
rules, tickets, patrol and the time-series consumer on this (main) thread; the embedded store commits
on its own writer thread, as in the service.

Two profiles: pyinstrument (sampling) on the main thread, and cProfile on the store's writer thread
(pyinstrument samples one thread only). Then the CPU seconds of each, so their shares of the whole
add up.

    .venv/bin/python bench/profile_ingest.py [--messages 60000] [--batch 500] [--top 25] [--bare]

`--bare` prints issue 14's figure, "CPU per 1,000 msg/s": the process's CPU (all threads) per message
over the whole run, until every point is committed, times 1,000 msg/s.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.app.features import attach_features
from gateway.app.simulator.conventions import Message
from gateway.app.simulator.engine import Simulator
from gateway.app.simulator.site_model import load_sim_site
from gateway.core.clock import FakeClock
from gateway.core.heap import settle_heap
from gateway.core.model import Inbound
from gateway.core.paths import demo_site_dir
from gateway.core.site import Site
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.timeseries.embedded import EmbeddedStore

STEP = timedelta(seconds=10)  # site time between simulator steps
NIGHT = timedelta(hours=8)  # 19:30 -> 03:30: dusk, the night rounds, the night's faults


def demo_traffic(site: Site, n: int, start: datetime) -> list[Message]:
    """About `n` messages of the demo site's night, spread evenly over NIGHT, in time order."""
    sim = Simulator(load_sim_site(site), seed=7)
    out = sim.start(start)
    steps = int(NIGHT / STEP)
    per_step = max(1, -(-(n - len(out)) // steps))
    now = start
    while len(out) < n:
        now += STEP
        changes, _taps = sim.step(now)
        out += changes
        out += sim.baseline(now, per_step)
    return out[:n]


def convention(topic: str) -> str:
    first, last = topic.split("/")[0], topic.rsplit("/", 1)[-1]
    if first == "sitegate":
        return "native tap" if last == "tap" else "native"
    return {"zigbee2mqtt": "zigbee2mqtt", "tele": "tasmota", "stat": "tasmota"}.get(first, "shelly")


WRITER_PROFILES: list[cProfile.Profile] = []
WRITER_CPU: list[float] = []  # CPU seconds of each writer thread (its profile's times include waits)


def profile_the_writer_thread() -> None:
    """Run every EmbeddedStore writer thread under cProfile. The thread's target is bound when the
    store is built, so this patches the class before the gateway builds its store (a bench-only hook:
    `_run` is private)."""
    original = EmbeddedStore._run

    def profiled(self: EmbeddedStore) -> None:
        prof = cProfile.Profile()
        WRITER_PROFILES.append(prof)
        cpu0 = time.thread_time()
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()
            WRITER_CPU.append(time.thread_time() - cpu0)

    EmbeddedStore._run = profiled  # type: ignore[method-assign]


def own_times(profiler: Profiler, top: int) -> str:
    """Per function, the time sampled in its own code (its `[self]`), summed over every call path.
    (pyinstrument's flat view lumps all `[self]` frames under one file's name.)"""
    root = profiler.last_session.root_frame() if profiler.last_session else None
    own: Counter[str] = Counter()
    stack = [root] if root else []
    while stack:
        frame = stack.pop()
        if frame is None:
            continue
        stack.extend(frame.children)
        if frame.is_synthetic:
            continue
        children = sum(c.time for c in frame.children if not c.is_synthetic)
        own[f"{frame.function}  {frame.file_path_short}:{frame.line_no}"] += frame.time - children
    total = root.time if root else 1.0
    return "\n".join(f"{t / total:6.1%} {t:7.2f}s  {name}" for name, t in own.most_common(top))


def top_functions(prof: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=500, help="messages per pipeline batch (group commit)")
    ap.add_argument("--top", type=int, default=25, help="functions to list")
    ap.add_argument("--bare", action="store_true", help="no profilers: only the rates, without their overhead")
    args = ap.parse_args()
    if not args.bare:
        profile_the_writer_thread()
    with tempfile.TemporaryDirectory() as tmp:
        site = load_site(demo_site_dir() / "site.yaml", Overrides(data=tmp))
        start = datetime(2026, 12, 1, 19, 30, tzinfo=site.tz)
        traffic = demo_traffic(site, args.messages, start)
        kinds = Counter(convention(m.topic) for m in traffic)
        clock = FakeClock(start)
        gw = Gateway(site, clock=clock, connect_mqtt=False)
        features: dict[str, Any] = attach_features(gw)
        gw.start(intake=False)
        ts = features["timeseries"]
        # As `sitegate run` does once the gateway is built (gateway/app/runner.py, serve). Here that
        # also keeps the bench's own 60,000 prepared messages out of the collector's full passes:
        # walking those cost ~10 us/msg that the service does not pay (bench/README.md).
        settle_heap()
        profiler = Profiler()  # 1 ms samples
        cpu0, wall0 = time.process_time(), time.perf_counter()
        main_cpu0 = time.thread_time()
        if not args.bare:
            profiler.start()
        for i in range(0, len(traffic), args.batch):
            batch = traffic[i:i + args.batch]
            gw.pipeline.process([Inbound(m.topic, m.payload, m.ts.timestamp()) for m in batch])
            clock.set(max(clock.now(), batch[-1].ts))
            gw.pipeline.tick()
        if not args.bare:
            profiler.stop()
        fed = time.perf_counter() - wall0
        main_cpu = time.thread_time() - main_cpu0
        flushed = ts.writer.flush(120)  # the store's backlog, after the pipeline is done
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        stored, dropped = ts.store.stored_rows, ts.writer.dropped()
        tickets = len(features["tickets"].list(limit=100_000))
        gw.stop()
    writer_cpu = sum(WRITER_CPU)
    n = len(traffic)
    print(f"demo-site traffic: {n:,} messages over {traffic[-1].ts - traffic[0].ts} of site time; by convention "
          f"{dict(kinds.most_common())}")
    print(f"fed through the pipeline in {fed:.2f}s ({n / fed:,.0f} msg/s on the pipeline thread); all points "
          f"committed after {wall:.2f}s ({n / wall:,.0f} msg/s end to end; flushed: {flushed}); {stored:,} field rows "
          f"stored, {dropped} dropped; {tickets} tickets")
    print(f"CPU: process {cpu:.2f}s, pipeline (main) thread {main_cpu:.2f}s" +
          ("" if args.bare else f" (pyinstrument's sampling included), store writer thread {writer_cpu:.2f}s "
                                "(cProfile's overhead included)"))
    # Issue 14's figure: process CPU (user+sys, every thread) per message, from the first batch until
    # every point is committed, as the cores it takes to carry 1,000 msg/s (us/msg / 1000).
    us_per_msg = cpu / n * 1e6
    print(f"CPU per 1,000 msg/s: {us_per_msg / 1000:.3f} core-s/s ({us_per_msg:.0f} us/msg)")
    if args.bare:
        return
    print()
    print("=== pipeline thread (pyinstrument; time = wall on this thread, lock waits included) ===")
    print(profiler.output_text(show_all=False, short_mode=False, processor_options={"filter_threshold": 0.01}))
    print("=== pipeline thread, top functions by own time (pyinstrument) ===")
    print(own_times(profiler, args.top))
    print("=== embedded store writer thread, top functions by own time (cProfile) ===")
    for prof in WRITER_PROFILES:
        print(top_functions(prof, args.top))


if __name__ == "__main__":
    main()
