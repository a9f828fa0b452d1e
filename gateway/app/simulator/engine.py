"""The scheduler: a site clock, the simulation step, and publishing to a broker.

- `SiteClock` (gateway/core/clock.py) runs `speed` times faster than real time from a chosen start
  (e.g. today 17:30 site time, so dusk comes at once). A demo gives the same clock to the gateway, and
  separate processes build equal ones from the same `--start`, `--speed` and `--real-start`, so
  gateway, simulator and recorder judge taps and windows on one timeline.
- `Simulator` is the pure core: given site times it returns the messages to publish (device start
  announcements, state changes, guards' taps, and baseline telemetry spread over the devices).
- `run` drives a Simulator from a SiteClock and publishes with paho-mqtt (QoS1) until `duration`
  real seconds pass, the clock reaches its `until`, or `stop` is set. A clock anchored in the future
  is waited for: the first message goes out at the clock's start. Baseline telemetry is paced at
  `rate` messages per real second, round-robin over the devices, so at --speed 60 and 200 devices
  each device reports about every 200 / rate * 60 site seconds; changes, faults and taps are
  published at once on top.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from datetime import time as clock_time

from gateway.app.simulator.conventions import NATIVE, Encoder, Message
from gateway.app.simulator.devices import Device, World, build_devices
from gateway.app.simulator.faults import Fault, FaultPlan
from gateway.app.simulator.mistakes import PatrolIncident
from gateway.app.simulator.patrol import PatrolWalker, PlannedTap
from gateway.app.simulator.publisher import MqttPublisher
from gateway.app.simulator.site_model import SimSite, load_sim_site
from gateway.app.simulator.sky import Sky
from gateway.core.clock import SiteClock
from gateway.core.errors import SitegateError
from gateway.core.site import Site
from gateway.ingest.broker import Broker

log = logging.getLogger("sitegate.simulator")

TICK_S = 0.05  # real seconds between steps


def evening_start(tz: tzinfo, now: datetime | None = None, at: clock_time = clock_time(17, 30)) -> datetime:
    """Today at `at` (default 17:30) site time: a demo start where dusk comes at once."""
    today = (now or datetime.now(tz)).astimezone(tz).date()
    return datetime.combine(today, at, tz)


@dataclass
class SimulationStats:
    published: int = 0  # messages handed to the broker (acknowledged at QoS1 unless `failed`)
    baseline: int = 0  # of which periodic telemetry
    changes: int = 0  # of which start announcements, state changes, availability
    taps: int = 0  # of which checkpoint and event-card taps
    failed: int = 0  # publishes paho refused or the broker never acknowledged
    by_kind: Counter[str] = field(default_factory=Counter)  # device kind -> messages
    faults: list[str] = field(default_factory=list)  # faults under way at the start, then as they start
    acks: Counter[str] = field(default_factory=Counter)  # the gateway's tap acks by result
    site_start: datetime | None = None
    site_end: datetime | None = None
    real_seconds: float = 0.0


class Simulator:
    """The pure core: site times in, messages out."""

    def __init__(self, site: SimSite, *, seed: int = 7, faults: bool = True) -> None:
        self.site = site
        self.sky = Sky(site.latitude, site.longitude, site.tz)
        self.faults = FaultPlan(site, self.sky, seed, enabled=faults)
        self.devices: list[Device] = build_devices(site, random.Random(seed), seed)
        self.walker = PatrolWalker(site, self.faults, seed)
        self._taps = Encoder(NATIVE, site.site_id, site.tz)
        self._rng = random.Random(seed + 1)
        # Baseline order: earliest due first; due = previous due + the device's report period.
        self._queue: list[tuple[datetime, int]] = []
        self._last: datetime | None = None
        self.started: list[Fault | PatrolIncident] = []  # faults begun during the last step

    def _world(self, now: datetime) -> World:
        return World(now, self.sky, self.faults)

    def start(self, now: datetime) -> list[Message]:
        """Every device announces itself (retained availability) and reports once."""
        world = self._world(now)
        self._last = now
        self._queue = [(now + d.report_every * self._rng.random(), i) for i, d in enumerate(self.devices)]
        heapq.heapify(self._queue)
        return [m for d in self.devices for m in d.start(world)]

    def step(self, now: datetime) -> tuple[list[Message], list[PlannedTap]]:
        """Changes since the last step, then the taps made in (last, now] (each with its own time)."""
        if self._last is None:
            raise RuntimeError("Simulator.start() must be called before step().")
        world = self._world(now)
        out = [m for d in self.devices for m in d.changes(world)]
        taps = self.walker.due(self._last, now) if now > self._last else []
        out += [self._taps.tap(t.reader, t.tag, t.ts) for t in taps]
        self.started = self.faults.started_between(self._last, now) if now > self._last else []
        self._last = max(self._last, now)
        return out, taps

    def baseline(self, now: datetime, count: int) -> list[Message]:
        """At least `count` messages of periodic reports (a report may be two messages), from the
        devices whose report is most overdue. With more budget than the devices need they report
        more often; with less, every device's period stretches by the same factor."""
        world = self._world(now)
        out: list[Message] = []
        quiet = 0  # devices in a row with nothing to say (offline, silent)
        while len(out) < count and self._queue and quiet < len(self.devices):
            due, index = heapq.heappop(self._queue)
            device = self.devices[index]
            heapq.heappush(self._queue, (due + device.report_every, index))
            reported = device.report(world)
            quiet = 0 if reported else quiet + 1
            out += reported
        return out

    def demand(self, speed: float) -> float:
        """Messages per real second the devices need at `speed` to report on their own periods."""
        per_site_second = sum((2 if d.spec.convention == "tasmota" and d.spec.kind == "lamp" else 1)
                              / d.report_every.total_seconds() for d in self.devices)
        return per_site_second * speed


def run(site: SimSite, publish: Callable[[Message], bool], *, rate: float = 20.0, speed: float = 1.0,
        duration: float | None = None, start: datetime | None = None, stop: threading.Event | None = None,
        seed: int = 7, stats: SimulationStats | None = None, clock: SiteClock | None = None,
        monotonic: Callable[[], float] = time.monotonic) -> SimulationStats:
    """Drive a Simulator in real time through `publish` (True when the message was accepted).

    The site time comes from `clock` (else a SiteClock from `start`, default now, at `speed`). A
    clock anchored in the future is waited for; `duration` counts real seconds from then."""
    if not rate > 0:
        raise ValueError(f"Rate must be above 0 messages per second, got {rate}.")
    stop = stop or threading.Event()
    stats = stats or SimulationStats()
    clock = clock or SiteClock(start or datetime.now(site.tz), speed)
    # Every process of a shared timeline starts at its anchor, not when it happened to be launched.
    if (wait := clock.real_start - time.time()) > 0 and stop.wait(wait):
        return stats
    sim = Simulator(site, seed=seed)
    t0 = monotonic()
    now = clock.now().astimezone(site.tz)  # the same instant, in the site's zone whatever --start's was
    stats.site_start = now

    kinds = {d.id: d.kind for d in site.devices}

    def send(messages: list[Message], kind: str) -> None:
        for msg in messages:
            if publish(msg):
                stats.published += 1
                stats.by_kind[kinds.get(msg.device, "unknown")] += 1
                setattr(stats, kind, getattr(stats, kind) + 1)
            else:
                stats.failed += 1

    if (need := sim.demand(clock.speed)) > rate:
        log.warning("at speed %g the devices need about %.0f messages/s to report on their own periods; "
                    "with --rate %g each reports %.1f times less often (raise --rate to avoid "
                    "absent-device alerts)", clock.speed, need, rate, need / rate)
    send(sim.start(now), "changes")
    for fault in sim.faults.under_way(now):
        stats.faults.append(f"{fault.start.astimezone(site.tz):%Y-%m-%d %H:%M} {fault.title} (under way)")
        log.info("fault: %s", stats.faults[-1])
    sent = 0
    ended = False
    while not stop.is_set() and not ended:
        elapsed = monotonic() - t0
        if duration is not None and elapsed >= duration:
            break
        now = clock.now().astimezone(site.tz)
        ended = clock.until is not None and now >= clock.until  # this last step still publishes
        changes, taps = sim.step(now)
        for item in sim.started:
            stats.faults.append(f"{item.start.astimezone(site.tz):%Y-%m-%d %H:%M} {item.title}")
            log.info("fault: %s", stats.faults[-1])
        send(changes[:len(changes) - len(taps)], "changes")
        send(changes[len(changes) - len(taps):], "taps")
        due = int(rate * elapsed) - sent
        if due > 0:
            send(sim.baseline(now, due), "baseline")
            sent += due
        if not ended:
            stop.wait(TICK_S)
    stats.site_end = clock.now().astimezone(site.tz)
    stats.real_seconds = monotonic() - t0
    return stats


def run_simulation(site: Site, *, mqtt_url: str, rate: float = 20.0, speed: float = 1.0,
                   duration: float | None = None, start: datetime | None = None,
                   stop: threading.Event | None = None, seed: int = 7,
                   clock: SiteClock | None = None) -> SimulationStats:
    """Publish the site's simulated traffic to the broker at `mqtt_url` until `duration` real
    seconds pass, `clock` reaches its `until`, or `stop` is set. The site time comes from `clock`
    (shared with a gateway, or built from the same timeline options in another process), else from
    `start` (default: now) at `speed`."""
    sim_site = load_sim_site(site)
    for why in sim_site.skipped:
        log.warning("not simulated: %s", why)
    stop = stop or threading.Event()
    stats = SimulationStats()
    site_id = sim_site.site_id
    try:
        broker = Broker.from_site(site, url=mqtt_url)
    except ValueError as exc:
        raise SitegateError(f"--mqtt-url: {exc}") from None
    publisher = MqttPublisher(broker, f"sitegate-sim-{site_id}",
                              ack_filter=f"sitegate/{site_id}/+/ack",
                              on_ack=lambda result: stats.acks.update([result]), stop=stop)
    publisher.connect()
    try:
        run(sim_site, publisher.publish, rate=rate, speed=speed, duration=duration, start=start, stop=stop,
            seed=seed, stats=stats, clock=clock)
    finally:
        unacknowledged = publisher.close()
        stats.published -= unacknowledged
        stats.failed += unacknowledged
    return stats
