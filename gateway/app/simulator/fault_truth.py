"""What really went wrong on a simulated night, and the one ticket each fault deserves (pure).

The truth comes from the simulator's own script and physics (faults.py, devices.py, the guards'
walk), never from the gateway. For every fault it says which device's ticket stands for it, which
rules may carry that ticket (one fault can show through several rules: a leak first as a pressure
fall, then as low pressure), which other devices' tickets would be the same fault told twice (the
lamps of a circuit without power), when the fault began and ended, and by when a correct gateway
has opened its ticket: when the fault became visible in the device's reports plus the rule's
documented wait (`for:`) plus one reporting interval.

The rules' waits are the built-in packs' defaults (rules/*.yaml); a site that changes them
changes its own truth, so the oracle runs on the demo site as shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from gateway.app.simulator.devices import (
    Device,
    FireDoor,
    Lamp,
    PanelMeter,
    PressureTransmitter,
    SmokeDetector,
    World,
)
from gateway.app.simulator.engine import Simulator
from gateway.app.simulator.faults import LEAK_MPA_PER_HOUR, Fault
from gateway.app.simulator.patrol import PlannedTap
from gateway.app.simulator.site_model import board_way
from gateway.app.simulator.truth import RoundTruth

# How late a ticket may open beyond the rule's wait: the step at which the simulator looks at
# device changes, plus a minute for the rule engine's own timers.
SLACK = timedelta(minutes=1, seconds=20)
LAMPS_LIT_BELOW_DEG = -4.0  # lighting.lamp_out `lit_when` (rules/lighting.yaml)
LAMP_OUT_GRACE = timedelta(minutes=10)
EXTINGUISHER_LOW_MPA = 1.0  # fire.extinguisher_low `low`
BATTERY_GRACE = timedelta(minutes=30)  # fire.battery_low `grace`
DOOR_MAX_OPEN = timedelta(minutes=5)  # fire.door_held_open `max_open`
DOOR_HOURS = (time(7, 0), time(22, 0))  # fire.door_out_of_hours `open_hours`
OUTAGE_GRACE = timedelta(minutes=2)  # lighting.circuit_outage `grace`


@dataclass(frozen=True, slots=True)
class TrueFault:
    kind: str
    title: str
    device: str  # whose ticket stands for the fault (the failed device, the board's meter, the place)
    rules: frozenset[str]  # rules that may carry that one ticket
    start: datetime
    end: datetime | None  # None: not over when the night ends (someone has to act)
    detect_by: datetime  # a correct gateway has opened the ticket by then
    covers: frozenset[str] = field(default_factory=frozenset)  # devices whose tickets are the same fault
    cover_rules: frozenset[str] = field(default_factory=frozenset)  # ... from these rules ("" = any)

    def accepts(self, rule: str, device: str) -> bool:
        """A ticket of `rule` at `device` during the fault stands for this fault."""
        if device == self.device and rule in self.rules:
            return True
        return device in self.covers and (not self.cover_rules or rule in self.cover_rules)


def device_faults(sim: Simulator, start: datetime, end: datetime) -> list[TrueFault]:
    """Every device fault of the script that began in [start, end)."""
    out: list[TrueFault] = []
    day = sim.faults.night_of(start)
    while day <= sim.faults.night_of(end):
        for fault in sim.faults.night(day).faults:
            if start <= fault.start < end:
                out.extend(_of(sim, fault))
        day += timedelta(days=1)
    return out


def _of(sim: Simulator, f: Fault) -> list[TrueFault]:
    device = next(iter(sorted(f.devices)))
    by_id = {d.id: d for d in sim.devices}
    report = by_id[device].report_every if device in by_id else timedelta(hours=1)
    if f.kind == "lamp_dead":
        # Dead from before dusk; visible once the lamp must be lit. A guard's "lamp out" card at a
        # checkpoint of the same zone reports the same lamp.
        visible = _first(lambda t: sim.sky.elevation(t) < LAMPS_LIT_BELOW_DEG, f.start, f.end)
        zone = sim.site.device(device).zone
        places = frozenset(c.id for c in sim.site.plan.checkpoints if c.zone == zone)
        return [TrueFault(f.kind, f.title, device, frozenset({"lighting.lamp_out", "patrol.observation.lamp_out"}),
                          f.start, f.end, visible + LAMP_OUT_GRACE + report + SLACK,
                          covers=places, cover_rules=frozenset({"patrol.observation.lamp_out"}))]
    if f.kind == "extinguisher_leak":
        transmitter = by_id[device]
        assert isinstance(transmitter, PressureTransmitter)
        hours = max(0.0, (transmitter.base_mpa - EXTINGUISHER_LOW_MPA) / LEAK_MPA_PER_HOUR)
        red_zone = f.start + timedelta(hours=hours)
        return [TrueFault(f.kind, f.title, device, frozenset({"fire.extinguisher_leak", "fire.extinguisher_low"}),
                          f.start, f.end, red_zone + report + SLACK)]
    if f.kind == "battery_dies":
        # One fault: the battery. The detector then falls silent and off the network because of it.
        return [TrueFault(f.kind, f.title, device, frozenset({"fire.battery_low", "health.offline", "health.silent"}),
                          f.start, f.end, f.start + BATTERY_GRACE + SLACK)]
    if f.kind == "door_propped":
        return [TrueFault(f.kind, f.title, device, frozenset({"fire.door_held_open", "fire.door_out_of_hours"}),
                          f.start, f.end, f.start + DOOR_MAX_OPEN + SLACK)]
    if f.kind == "smoke_alarm":
        return [TrueFault(f.kind, f.title, device, frozenset({"fire.smoke"}), f.start, f.end, f.start + SLACK)]
    if f.kind == "zone_outage":
        # The board's meter sees the way go dead; its lamps drop off the network with it.
        found = board_way(f.circuit)
        meter = next((d for d in sim.devices if isinstance(d, PanelMeter)
                      and found is not None and d.spec.circuit == found[0]), None)
        if meter is None:
            return []
        lamps = frozenset(d.id for d in sim.devices if isinstance(d, Lamp) and d.spec.circuit == f.circuit)
        return [TrueFault(f.kind, f.title, meter.id, frozenset({"lighting.circuit_outage"}), f.start, f.end,
                          f.start + OUTAGE_GRACE + meter.report_every + SLACK, covers=lamps)]
    raise ValueError(f"the oracle does not know the fault kind {f.kind!r}")


def reported_faults(taps: list[PlannedTap]) -> list[TrueFault]:
    """What guards report with event cards that is not a device's fault already (an obstruction);
    a "lamp out" card reports a dead lamp, whose fault is the lamp's."""
    out: list[TrueFault] = []
    for tap in taps:
        if tap.event is None or tap.event == "lamp_out":
            continue
        out.append(TrueFault(f"report_{tap.event}", f"guard reports {tap.event} at {tap.checkpoint}",
                             tap.checkpoint, frozenset({f"patrol.observation.{tap.event}"}), tap.ts, None,
                             tap.ts + SLACK))
    return out


def missed_rounds(rounds: list[RoundTruth]) -> list[TrueFault]:
    """A round that missed checkpoints: one ticket for the round, listing them (patrol/alerts.py),
    which a supervisor can act on; by the round's end at the latest."""
    out: list[TrueFault] = []
    for r in rounds:
        if r.missed:
            start = datetime.fromisoformat(r.scheduled_start)
            out.append(TrueFault("round_missed", f"round {r.route} {start:%H:%M} missed {', '.join(r.missed)}",
                                 r.route, frozenset({"patrol.missed_checkpoint"}), start, None,
                                 datetime.fromisoformat(r.ended_at) + SLACK))
    return out


def door_openings(sim: Simulator, start: datetime, end: datetime) -> list[TrueFault]:
    """Fire doors opened outside the doors' hours (people going through): one fault per door and
    night, which the site wants to hear about once, with every opening on it."""
    tz = sim.site.tz
    out: list[TrueFault] = []
    for door in sim.devices:
        if not isinstance(door, FireDoor):
            continue
        times: list[tuple[datetime, datetime]] = []
        for slot in range(int(start.timestamp() // 900), int(end.timestamp() // 900) + 1):
            found = door.opening(slot)
            if found is None:
                continue
            opened, closed = (datetime.fromtimestamp(x, tz) for x in found)
            if start <= opened < end and not DOOR_HOURS[0] <= opened.time() < DOOR_HOURS[1]:
                times.append((opened, closed))
        if times:
            out.append(TrueFault("door_out_of_hours", f"fire door {door.id} opened out of hours",
                                 door.id, frozenset({"fire.door_out_of_hours"}), times[0][0], times[-1][1],
                                 times[0][0] + SLACK))
    return out


def _first(holds: Callable[[datetime], bool], start: datetime, end: datetime) -> datetime:
    """The first minute in [start, end) at which `holds(t)`, else `end`."""
    t = start
    while t < end:
        if holds(t):
            return t
        t += timedelta(minutes=1)
    return end


def health_bands(sim: Simulator, at: datetime) -> dict[str, str]:
    """Each device's true band at `at` (gateway/ingest/health.py's bands): offline when it is off the
    network, faulty while a fault a rule can see has held past the rule's wait, else good. Pick
    times when no fault is just starting or ending (the gateway's waits are allowed for)."""
    world = World(at, sim.sky, sim.faults)
    bands: dict[str, str] = {}
    for device in sim.devices:
        if not device.presence(world)[0]:
            bands[device.id] = "offline"
        elif _faulty(device, world):
            bands[device.id] = "faulty"
        else:
            bands[device.id] = "good"
    return bands


def _faulty(device: Device, world: World) -> bool:
    kinds = {f.kind for f in world.faults_on(device.id)}
    if isinstance(device, SmokeDetector):
        return "battery_dies" in kinds
    if isinstance(device, Lamp):
        return "lamp_dead" in kinds and world.dark  # a dead lamp shows only when it must be lit
    if isinstance(device, PressureTransmitter):
        return "extinguisher_leak" in kinds
    if isinstance(device, PanelMeter):  # a way without power
        return any(not lamp.presence(world)[0] for way in device.ways for lamp in way)
    return False
