"""A stretch of site time as traffic, with no broker and no real time: for the oracle and benches.

`traffic(sim, start, end)` yields (instant, messages) in time order: the devices' start
announcements, their changes (checked every `step` of site time), the guards' taps at their own
times, and every device's periodic report at its own due time (each device on its own period,
as the firmware does, not paced by a publishing rate as `run` must be on a real broker).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from gateway.app.simulator.conventions import Message
from gateway.app.simulator.devices import World
from gateway.app.simulator.engine import Simulator
from gateway.app.simulator.patrol import PlannedTap

STEP = timedelta(seconds=20)  # how often device changes are looked at (a door, a relay, smoke)


def traffic(sim: Simulator, start: datetime, end: datetime, step: timedelta = STEP,
            on_taps: Callable[[list[PlannedTap]], None] | None = None) -> Iterator[tuple[datetime, list[Message]]]:
    """Every message the site's devices and guards send in [start, end), grouped by instant;
    `on_taps` hears of the guards' taps as they are made (what they did, for the truth)."""
    yield start, sim.start(start)
    devices = sim.devices
    # Each device's next report: a random phase within its period, then every period.
    due: list[tuple[datetime, int]] = [(start + d.report_every * ((i * 0.618034) % 1), i)
                                       for i, d in enumerate(devices)]
    heapq.heapify(due)
    now = start
    while now < end:
        after, now = now, min(now + step, end)
        # Reports due in (after, now], each at its own time and seen in the world of that time.
        pending: dict[datetime, list[Message]] = {}
        while due and due[0][0] <= now:
            at, index = heapq.heappop(due)
            device = devices[index]
            heapq.heappush(due, (at + device.report_every, index))
            if at <= after:
                continue
            if reported := device.report(World(at, sim.sky, sim.faults)):
                pending.setdefault(at, []).extend(reported)
        changes, taps = sim.step(now)
        if on_taps is not None and taps:
            on_taps(taps)
        for tap, message in zip(taps, changes[len(changes) - len(taps):], strict=True):
            pending.setdefault(tap.ts, []).append(message)
        if state_changes := changes[:len(changes) - len(taps)]:
            pending.setdefault(now, []).extend(state_changes)
        for at in sorted(pending):
            yield at, pending[at]
