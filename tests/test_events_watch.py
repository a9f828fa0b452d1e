"""Where events come from, on a fake clock and plain data: bus events, device state compared on tick
(and not repeated after a restart), health once per interval, and the catch-up after a crash."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from gateway.core.clock import FakeClock
from gateway.events.build import DeviceState, Site
from gateway.events.outbox import Outbox
from gateway.events.watch import EventWatch

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 2, 21, 0, tzinfo=TZ)
SITE = Site("harbor-view", "海景花园 Harbor View", TZ)


class World:
    def __init__(self) -> None:
        self.devices: dict[str, dict[str, Any]] = {
            "lamp-1": {"id": "lamp-1", "kind": "lamp", "zone": "north", "online": True, "health": 1.0,
                       "health_band": "good"},
            "smoke-3": {"id": "smoke-3", "kind": "smoke_detector", "zone": "b2", "online": True, "health": 0.9,
                        "health_band": "good"},
            "new-1": {"id": "new-1", "kind": "unknown", "zone": "unassigned", "online": None, "health": 0.5,
                      "health_band": "degraded"},
        }
        self.wakes = 0

    def views(self, now: datetime) -> list[dict[str, Any]]:
        del now
        return [dict(v) for v in self.devices.values()]

    def states(self, now: datetime) -> list[tuple[str, DeviceState | None]]:
        return [(str(v["id"]), DeviceState.of(v)) for v in self.views(now)]

    def view(self, device: str, now: datetime) -> dict[str, Any] | None:
        del now
        found = self.devices.get(device)
        return None if found is None else dict(found)

    def wake(self) -> None:
        self.wakes += 1


def make(tmp_path: Path, clock: FakeClock, world: World) -> tuple[EventWatch, Outbox]:
    box = Outbox(tmp_path / "events.db")
    watch = EventWatch(SITE, box, clock=clock, wake=world.wake, states=world.states, view=world.view,
                       health=lambda: {"status": "ok"},
                       figures=lambda now: {"open_tickets": 1, "overdue_tickets": 0, "critical_tickets": 0,
                                            "devices_total": 3, "devices_offline": 0, "timeliness_month": None},
                       health_every=timedelta(minutes=1), device_every=timedelta(seconds=5), min_gap=0)
    return watch, box


def sent(box: Outbox) -> list[dict[str, Any]]:
    return [orjson.loads(p.payload) for p in box.unsent(1000)]


def test_device_changes_health_and_bus_events_reach_the_outbox(tmp_path: Path) -> None:
    clock, world = FakeClock(START), World()
    watch, box = make(tmp_path, clock, world)
    watch.tick(clock.now())
    first = sent(box)
    # Head office first hears of each device whose online state is known; a device nobody knows yet waits.
    assert sorted(e["id"] for e in first) == ["harbor-view/device/lamp-1/2026-12-02T21:00:00+08:00",
                                              "harbor-view/device/smoke-3/2026-12-02T21:00:00+08:00",
                                              "harbor-view/health/2026-12-02T13:00Z"]
    clock.advance(timedelta(seconds=6))
    watch.tick(clock.now())
    assert len(sent(box)) == 3  # nothing changed

    # The registry says smoke-3 went offline at 21:00:03 (bus), its health band follows.
    world.devices["smoke-3"].update(online=False, health=0.0, health_band="offline")
    watch.on_bus("device", {"device": "smoke-3", "change": "offline", "source": "availability",
                            "ts": "2026-12-02T13:00:03+00:00"})
    clock.advance(timedelta(seconds=1))
    watch.tick(clock.now())  # the bus event asked for a comparison at the next tick, not in 5 s
    # lamp-1 turns faulty while online: unhealthy since the comparison that saw it.
    world.devices["lamp-1"].update(health=0.3, health_band="faulty")
    clock.advance(timedelta(seconds=5))
    watch.tick(clock.now())
    devices = [e for e in sent(box) if e["type"] == "device.state"][2:]
    assert [(e["data"]["device"], e["data"]["state"], e["data"]["healthy"], e["data"]["since"]) for e in devices] == [
        ("smoke-3", "offline", False, "2026-12-02T21:00:03+08:00"),
        ("lamp-1", "online", False, "2026-12-02T21:00:12+08:00")]

    clock.advance(timedelta(seconds=48))  # 21:01:00: a minute after the first health event
    watch.tick(clock.now())
    assert [e["id"] for e in sent(box) if e["type"] == "gateway.health"] == [
        "harbor-view/health/2026-12-02T13:00Z", "harbor-view/health/2026-12-02T13:01Z"]

    watch.on_bus("ticket", {"id": "T-000001", "status": "open", "revision": 1, "opened_at": START.isoformat(),
                            "history": [{"at": START.isoformat(), "action": "opened", "from": None, "to": "open"}],
                            "change": "opened"})
    watch.on_bus("round", {"change": "checkpoint_missed", "round_id": "r1", "visited": 0, "late": 0, "missed": []})
    watch.on_bus("round", {"change": "round_completed", "checkpoint": None, "route": "n", "round_id": "r1",
                           "visited": 3, "late": 0, "missed": [], "ended_at": "2026-12-02T21:01:00+08:00"})
    last = sent(box)[-2:]
    assert [(e["id"], e["type"]) for e in last] == [("harbor-view/ticket/T-000001/1", "ticket.opened"),
                                                    ("harbor-view/round/r1", "round.finished")]
    assert world.wakes >= 6  # the sender is woken after every write


def test_a_restart_does_not_repeat_device_events_but_sends_what_changed_meanwhile(tmp_path: Path) -> None:
    clock, world = FakeClock(START), World()
    watch, box = make(tmp_path, clock, world)
    watch.tick(clock.now())
    before = len(sent(box))
    world.devices["lamp-1"].update(online=False, health=0.0, health_band="offline")
    clock.advance(timedelta(minutes=10))
    again, box2 = make(tmp_path, clock, world)
    again.check_devices(clock.now())
    new = sent(box2)[before:]
    assert [(e["data"]["device"], e["data"]["state"]) for e in new] == [("lamp-1", "offline")]


def test_catch_up_sends_the_latest_revision_the_outbox_missed(tmp_path: Path) -> None:
    clock, world = FakeClock(START), World()
    watch, box = make(tmp_path, clock, world)
    opened = {"at": START.isoformat(), "action": "opened", "from": None, "to": "open"}
    acked = {"at": (START + timedelta(minutes=3)).isoformat(), "action": "acknowledged", "from": "open",
             "to": "acknowledged"}
    t1 = {"id": "T-000001", "status": "open", "revision": 1, "opened_at": START.isoformat(), "history": [opened]}
    t2 = {"id": "T-000002", "status": "acknowledged", "revision": 2, "opened_at": START.isoformat(),
          "history": [opened, acked]}
    watch.on_bus("ticket", {**t1, "change": "opened"})
    assert watch.catch_up([t1, t2]) == 1  # T-000001/1 is there; T-000002/2 never reached the outbox
    assert watch.catch_up([t1, t2]) == 0
    assert [(e["id"], e["type"]) for e in sent(box)] == [("harbor-view/ticket/T-000001/1", "ticket.opened"),
                                                         ("harbor-view/ticket/T-000002/2", "ticket.changed")]


def test_in_the_background_a_slow_comparison_does_not_hold_the_tick_and_is_never_run_twice_at_once(
        tmp_path: Path) -> None:
    # On the pipeline thread the comparison held every message behind it; in the background the tick
    # returns at once, a tick while it runs starts no second one, and close() waits for it.
    clock, world = FakeClock(START), World()
    box = Outbox(tmp_path / "events.db")
    release, running = threading.Event(), threading.Event()
    calls: list[str] = []

    def states(now: datetime) -> list[tuple[str, DeviceState | None]]:
        calls.append(threading.current_thread().name)
        running.set()
        assert release.wait(10)
        return world.states(now)

    watch = EventWatch(SITE, box, clock=clock, wake=world.wake, states=states, view=world.view,
                       health=lambda: {"status": "ok"},
                       figures=lambda now: {"open_tickets": 0, "overdue_tickets": 0, "critical_tickets": 0,
                                            "devices_total": 3, "devices_offline": 0, "timeliness_month": None},
                       health_every=timedelta(minutes=1), device_every=timedelta(seconds=5), min_gap=0,
                       background=True)
    watch.tick(clock.now())  # returns while states() waits
    assert running.wait(5)
    clock.advance(timedelta(seconds=6))
    watch.tick(clock.now())  # due again, but the first is still running: skipped
    release.set()
    watch.close()
    assert len(calls) == 1 and calls[0].startswith("events-watch")
    assert sorted(e["id"] for e in sent(box)) == ["harbor-view/device/lamp-1/2026-12-02T21:00:00+08:00",
                                                  "harbor-view/device/smoke-3/2026-12-02T21:00:00+08:00",
                                                  "harbor-view/health/2026-12-02T13:00Z"]
    box.close()
