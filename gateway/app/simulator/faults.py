"""The night's script of faults a site really sees, chosen per night from the seed (pure).

Every night (site-local evening of day D; a night runs from D 12:00 to D+1 12:00):

- a lamp fails at dusk (relay on, current ~0): 2 photocell lamps in different zones, from 20 min
  before dusk to 09:00;
- a slow extinguisher leak, 0.05 MPa/h from 16:00 (it crosses 1.0 MPa in the evening) to 10:00;
- a smoke detector's battery dies: battery_low at 19:00, silent from 20:30, offline (the Zigbee
  coordinator gives up) at 22:30, a new battery at 09:30;
- a fire door propped open from 21:10 to 21:35 (25 min);
- a smoke alarm (cooking smoke) at another detector from 23:40 to 23:44;
- a power outage of one lighting circuit from 01:10 to 01:50: its lamp controllers lose their supply
  and drop off the network at once, the board meter's channel reads 0 A;
- two or three patrol mistakes (PatrolIncident: a missed or skipped checkpoint, an early start, two
  checkpoints the wrong way round, a guard held up, a shared round, a round nobody walks), chosen
  in mistakes.py.

Faults are values; devices and guards look up what is active at their time, so a simulation that
starts in the middle of a night sees the script exactly as far as it has come (the leak already
down to its level, the door not open yet).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from gateway.app.simulator.mistakes import PatrolIncident, night_mistakes
from gateway.app.simulator.site_model import SimDevice, SimSite
from gateway.app.simulator.sky import Sky

LEAK_MPA_PER_HOUR = 0.05
LEAK_FLOOR_MPA = 0.4  # an emptied extinguisher stops losing pressure
_NIGHT_STARTS = time(12, 0)  # a night's script covers D 12:00 to D+1 12:00, site time


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # lamp_dead | extinguisher_leak | battery_dies | door_propped | smoke_alarm | zone_outage
    devices: frozenset[str]
    start: datetime
    end: datetime
    title: str
    circuit: str | None = None
    silent_from: datetime | None = None  # battery_dies: the last message was before this
    offline_from: datetime | None = None  # battery_dies: the coordinator marks it offline

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True, slots=True)
class NightScript:
    day: date
    faults: tuple[Fault, ...]
    incidents: tuple[PatrolIncident, ...]


def leak_pressure(base_mpa: float, fault: Fault, now: datetime) -> float:
    """The pressure of a leaking extinguisher at `now`, starting from its normal `base_mpa`."""
    hours = max(0.0, (now - fault.start).total_seconds() / 3600)
    return max(LEAK_FLOOR_MPA, base_mpa - LEAK_MPA_PER_HOUR * hours)


class FaultPlan:
    def __init__(self, site: SimSite, sky: Sky, seed: int, *, enabled: bool = True) -> None:
        self.site, self.sky, self.seed, self.enabled = site, sky, seed, enabled
        self._nights: dict[date, NightScript] = {}
        self._by_device: dict[date, dict[str, list[Fault]]] = {}

    def night_of(self, when: datetime) -> date:
        """The night whose script covers `when`."""
        local = when.astimezone(self.site.tz)
        return (local - timedelta(hours=_NIGHT_STARTS.hour, minutes=_NIGHT_STARTS.minute)).date()

    def night(self, day: date) -> NightScript:
        script = self._nights.get(day)
        if script is None:
            script = self._script(day) if self.enabled else NightScript(day, (), ())
            if len(self._nights) > 8:  # a long run only ever looks at the current night
                self._nights.clear()
                self._by_device.clear()
            self._nights[day] = script
            index: dict[str, list[Fault]] = {}
            for fault in script.faults:
                for device in fault.devices:
                    index.setdefault(device, []).append(fault)
            self._by_device[day] = index
        return script

    def active(self, device: str, now: datetime) -> list[Fault]:
        """The faults acting on `device` at `now`."""
        day = self.night_of(now)
        self.night(day)
        return [f for f in self._by_device[day].get(device, ()) if f.active(now)]

    def active_all(self, now: datetime) -> dict[str, list[Fault]]:
        """The faults acting at `now`, by device."""
        day = self.night_of(now)
        self.night(day)
        out: dict[str, list[Fault]] = {}
        for device, faults in self._by_device[day].items():
            if acting := [f for f in faults if f.active(now)]:
                out[device] = acting
        return out

    def started_between(self, after: datetime, until: datetime) -> list[Fault | PatrolIncident]:
        """Faults and incidents starting in (after, until], for the operator's log."""
        out: list[Fault | PatrolIncident] = []
        day, last = self.night_of(after), self.night_of(until)
        while day <= last:
            script = self.night(day)
            out += [f for f in script.faults if after < f.start <= until]
            out += [i for i in script.incidents if after < i.start <= until]
            day += timedelta(days=1)
        return sorted(out, key=lambda item: item.start)

    def under_way(self, now: datetime) -> list[Fault]:
        """Faults already acting at `now` (a simulation that starts mid-night joins them)."""
        return [f for f in self.night(self.night_of(now)).faults if f.start <= now < f.end]

    def incident(self, route: str, start: datetime) -> PatrolIncident | None:
        for found in self.night(self.night_of(start)).incidents:
            if found.route == route and found.start == start:
                return found
        return None

    # -- the script -----------------------------------------------------------------------------

    def _script(self, day: date) -> NightScript:
        rng = random.Random(f"{self.seed}:{day.isoformat()}")
        tz = self.site.tz

        def at(hour: int, minute: int, next_day: bool = False) -> datetime:
            return datetime.combine(day + timedelta(days=1 if next_day else 0), time(hour, minute), tz)

        faults: list[Fault] = []
        dusk = self.sky.lamps_on_at(day)
        photocell = [d for d in self.site.of_kind("lamp") if d.zone != "garage"]
        dead: list[SimDevice] = []
        for lamp in rng.sample(photocell, len(photocell)):
            if len(dead) < 2 and all(lamp.zone != d.zone for d in dead):
                dead.append(lamp)
        for lamp in dead:
            faults.append(Fault("lamp_dead", frozenset([lamp.id]), dusk - timedelta(minutes=20),
                                at(9, 0, True), f"灯具故障 Lamp {lamp.id} fails at dusk (on, no current)"))
        if extinguishers := self.site.of_kind("extinguisher"):
            ext = rng.choice(extinguishers)
            faults.append(Fault("extinguisher_leak", frozenset([ext.id]), at(16, 0), at(10, 0, True),
                                f"灭火器泄压 Extinguisher {ext.id} leaking {LEAK_MPA_PER_HOUR} MPa/h"))
        detectors = self.site.of_kind("smoke_detector")
        rng.shuffle(detectors)
        if detectors:
            det = detectors[0]
            faults.append(Fault("battery_dies", frozenset([det.id]), at(19, 0), at(9, 30, True),
                                f"电池耗尽 Detector {det.id} battery dies", silent_from=at(20, 30),
                                offline_from=at(22, 30)))
        if len(detectors) > 1:
            faults.append(Fault("smoke_alarm", frozenset([detectors[1].id]), at(23, 40), at(23, 44),
                                f"烟感报警 Smoke alarm at {detectors[1].id}"))
        if doors := self.site.of_kind("fire_door"):
            door = rng.choice(doors)
            faults.append(Fault("door_propped", frozenset([door.id]), at(21, 10), at(21, 35),
                                f"防火门常开 Fire door {door.id} propped open for 25 min"))
        circuits: dict[str, list[str]] = {}
        for lamp in photocell:
            if lamp.circuit:
                circuits.setdefault(lamp.circuit, []).append(lamp.id)
        if candidates := sorted(c for c, ids in circuits.items() if len(ids) >= 3):
            circuit = rng.choice(candidates)
            faults.append(Fault("zone_outage", frozenset(circuits[circuit]), at(1, 10, True), at(1, 50, True),
                                f"回路停电 Power outage on lighting circuit {circuit} "
                                f"({len(circuits[circuit])} lamps)", circuit=circuit))
        return NightScript(day, tuple(faults), night_mistakes(self.site.plan, tz, self.seed, day))
