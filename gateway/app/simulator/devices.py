"""Per-kind device behaviour: what each device's state is at a site time, and when it speaks.

A device computes its canonical state from the sky and the night's faults (`World`), and the
Encoder of its convention spells it. Three ways a device speaks, as real ones do:
- `start`: its retained availability and a first report (a device joining the network);
- `changes`: at once when something that devices report on change changes (a relay switching, a
  door opening, smoke, a battery going low, going offline or coming back);
- `report`: its periodic telemetry, when the engine's rate budget reaches it.
A device that is offline or silent (a dead battery) says nothing.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import ClassVar

from gateway.app.simulator.conventions import NATIVE, SHELLY, TASMOTA, ZIGBEE2MQTT, Encoder, Message, State
from gateway.app.simulator.faults import Fault, FaultPlan, leak_pressure
from gateway.app.simulator.site_model import SimDevice, SimSite, board_way
from gateway.app.simulator.sky import Sky

MAINS_V = 230.0
LED_PF = 0.92
DEAD_LAMP_A = 0.003  # a failed LED driver still draws a few mA
# Normal pressure ranges (MPa): stored-pressure extinguishers sit in the green band 1.0-1.4;
# roof test hydrants and ring mains hold a few bar; sprinkler ends sit higher.
PRESSURE_MPA = {"extinguisher": (1.16, 1.30), "hydrant": (0.32, 0.48), "sprinkler": (0.45, 0.60)}


class World:
    """What every device sees at one instant."""

    def __init__(self, now: datetime, sky: Sky, faults: FaultPlan) -> None:
        self.now, self.sky, self.faults = now, sky, faults
        self._dark: bool | None = None
        self._lux: float | None = None
        self._faults: dict[str, list[Fault]] | None = None

    @property
    def dark(self) -> bool:
        if self._dark is None:
            self._dark = self.sky.dark(self.now)
        return self._dark

    @property
    def outdoor_lux(self) -> float:
        if self._lux is None:
            self._lux = self.sky.outdoor_lux(self.now)
        return self._lux

    def faults_on(self, device: str) -> list[Fault]:
        if self._faults is None:  # looked up once per instant, asked for by every device
            self._faults = self.faults.active_all(self.now)
        return self._faults.get(device, [])


class Device:
    """The shared machinery; subclasses say what their state is."""

    EVENT_KEYS: ClassVar[tuple[str, ...]] = ()  # metrics the device reports as soon as they change
    # How often the device reports unprompted, in site time: what the firmware does (Tasmota's
    # TelePeriod is 5 min), and never slower than a quarter of its kind's heartbeat in the gateway.
    REPORT_EVERY: ClassVar[timedelta] = timedelta(minutes=30)

    def __init__(self, spec: SimDevice, encoder: Encoder, rng: random.Random) -> None:
        self.spec, self.enc, self.rng = spec, encoder, rng
        self.id = spec.id
        self._online: bool | None = None  # as last announced
        self._events: State | None = None  # EVENT_KEYS values as last reported
        self._signal = self._base_signal()
        self.report_every = self.REPORT_EVERY

    # -- what subclasses define -----------------------------------------------------------------

    def state(self, world: World) -> State:
        """The canonical values the device reports now."""
        return {}

    def presence(self, world: World) -> tuple[bool, bool]:
        """(online, silent): a silent device is still online as far as its network knows."""
        return True, False

    def advance(self, world: World) -> None:
        """Integrate anything that accumulates (energy counters); called once per engine step."""

    def on_change(self, state: State, world: World) -> list[Message]:
        return self.enc.state(self.id, state, world.now)

    # -- what the engine calls ------------------------------------------------------------------

    def start(self, world: World) -> list[Message]:
        online, _ = self.presence(world)
        self._online = online
        return [self.enc.availability(self.id, online, world.now), *self.report(world)]

    def changes(self, world: World) -> list[Message]:
        self.advance(world)
        online, silent = self.presence(world)
        out = []
        if online != self._online:
            self._online = online
            out.append(self.enc.availability(self.id, online, world.now))
            if online and not silent:  # a device that reconnects reports its state at once
                self._events = None
        if not online or silent:
            return out
        if self._events is not None and (not self.EVENT_KEYS or self.events(world) == self._events):
            return out  # nothing it reports on change has changed (and its first report is made)
        state = self.state(world)
        first = self._events is None
        self._events = {k: state[k] for k in self.EVENT_KEYS if k in state}
        if self.EVENT_KEYS or first:
            out += self.on_change(state, world)
        return out

    def events(self, world: World) -> State:
        """The EVENT_KEYS values now; subclasses give them without the whole state (checked often)."""
        state = self.state(world)
        return {k: state[k] for k in self.EVENT_KEYS if k in state}

    def report(self, world: World) -> list[Message]:
        online, silent = self.presence(world)
        if not online or silent:
            return []
        state = self.state(world)
        self._events = {k: state[k] for k in self.EVENT_KEYS if k in state}
        return self.enc.state(self.id, state, world.now)

    # -- helpers --------------------------------------------------------------------------------

    def _base_signal(self) -> float | None:
        """Link quality as each ecosystem reports it: Tasmota Wi-Fi %, Zigbee LQI, native RSSI dBm."""
        conv = self.spec.convention
        if conv == TASMOTA:
            return float(self.rng.randint(48, 92))
        if conv == ZIGBEE2MQTT:
            return float(self.rng.randint(70, 190))
        if conv == NATIVE:
            return float(self.rng.randint(-84, -55))
        return None  # Shelly reports RSSI on status/wifi only; not simulated

    def _with_signal(self, state: State) -> State:
        if self._signal is not None:
            wobble = 3 if self.spec.convention != NATIVE else 2
            state["signal"] = self._signal + self.rng.randint(-wobble, wobble)
        return state


class Lamp(Device):
    """A lamp (or lamp group) on a metering relay: photocell-switched outdoors and in corridors,
    always on in the underground garage."""

    EVENT_KEYS = ("power_on",)
    REPORT_EVERY = timedelta(minutes=5)

    def __init__(self, spec: SimDevice, encoder: Encoder, rng: random.Random) -> None:
        super().__init__(spec, encoder, rng)
        self.always_on = spec.zone == "garage"
        zone = spec.zone
        rated = (140.0, 150.0) if self.always_on else (16.0, 20.0) if zone.startswith("b") else (34.0, 40.0)
        self.rated_w = rng.uniform(*rated)
        self.energy_kwh = rng.uniform(80.0, 900.0)
        self._last: datetime | None = None
        self.temperature_c = rng.uniform(36.0, 44.0)

    def presence(self, world: World) -> tuple[bool, bool]:
        # A tripped circuit takes the relay's own supply with it: the device drops off the network.
        return not any(f.kind == "zone_outage" for f in world.faults_on(self.id)), False

    def load(self, world: World) -> tuple[bool, float]:
        """(relay on, watts drawn), without noise: what the board meter sees too."""
        on = self.always_on or world.dark
        if not on or not self.presence(world)[0]:
            return on, 0.0
        if any(f.kind == "lamp_dead" for f in world.faults_on(self.id)):
            return on, DEAD_LAMP_A * MAINS_V * 0.5
        return on, self.rated_w

    def events(self, world: World) -> State:
        return {"power_on": self.load(world)[0]}

    def advance(self, world: World) -> None:
        if self._last is not None and world.now > self._last:
            self.energy_kwh += self.load(world)[1] * (world.now - self._last).total_seconds() / 3.6e6
        self._last = world.now

    def state(self, world: World) -> State:
        on, watts = self.load(world)
        volts = MAINS_V + self.rng.gauss(0, 1.2)
        watts = watts * (1 + self.rng.gauss(0, 0.01)) if watts > 1 else watts
        amps = watts / (volts * LED_PF) if watts > 1 else (DEAD_LAMP_A if on and watts > 0 else 0.0)
        state: State = {"power_on": on, "power_w": round(watts, 1), "voltage_v": round(volts, 1),
                        "current_a": round(amps, 3), "energy_kwh": round(self.energy_kwh, 3)}
        if watts > 1:
            state["power_factor"] = LED_PF
        if self.spec.convention == SHELLY:
            state["temperature_c"] = self.temperature_c + (6.0 if watts > 1 else 0.0)
        return self._with_signal(state)

    def on_change(self, state: State, world: World) -> list[Message]:
        return self.enc.switched(self.id, state, world.now)


class PanelMeter(Device):
    """A multi-channel meter on a lighting distribution board: channel n measures way n."""

    REPORT_EVERY = timedelta(minutes=5)

    def __init__(self, spec: SimDevice, encoder: Encoder, rng: random.Random, ways: list[list[Lamp]]) -> None:
        super().__init__(spec, encoder, rng)
        self.ways = ways
        self.energy_kwh = rng.uniform(2_000.0, 20_000.0)
        self._last: datetime | None = None

    def _watts(self, world: World) -> list[float]:
        return [sum(lamp.load(world)[1] for lamp in lamps) for lamps in self.ways]

    def advance(self, world: World) -> None:
        if self._last is not None and world.now > self._last:
            hours = (world.now - self._last).total_seconds() / 3600
            self.energy_kwh += sum(self._watts(world)) * hours / 1000
        self._last = world.now

    def state(self, world: World) -> State:
        volts = MAINS_V + self.rng.gauss(0, 1.0)
        watts = [w * (1 + self.rng.gauss(0, 0.005)) if w > 0 else 0.0 for w in self._watts(world)]
        return {"power_w": [round(w) for w in watts], "voltage_v": round(volts),
                "current_a": [round(w / (volts * LED_PF), 3) for w in watts],
                "energy_kwh": round(self.energy_kwh, 3)}


class LuxSensor(Device):
    REPORT_EVERY = timedelta(minutes=5)

    def __init__(self, spec: SimDevice, encoder: Encoder, rng: random.Random) -> None:
        super().__init__(spec, encoder, rng)
        self.shade = rng.uniform(0.55, 1.0)  # trees and buildings
        self.battery = rng.randint(60, 100)
        # Lux sensors watch lit areas: after dark the area's lamps give it 12-30 lx (the rule
        # lighting.lux_dark fires below 5 lx, when the lamps there are out).
        self.lamp_lux = rng.uniform(12.0, 30.0)

    def state(self, world: World) -> State:
        lamps = self.lamp_lux if world.dark and not world.faults_on(self.id) else 0.0
        lux = max(0.0, (world.outdoor_lux * self.shade + lamps) * (1 + self.rng.gauss(0, 0.04)))
        state: State = {"illuminance_lux": round(lux)}
        if self.spec.convention == ZIGBEE2MQTT:
            state["battery_pct"] = self.battery
            state["voltage_v"] = round(2.7 + 0.004 * self.battery, 3)
        return self._with_signal(state) if self.spec.convention != TASMOTA else state


class PressureTransmitter(Device):
    """Extinguisher, hydrant or sprinkler-pipe pressure transmitter (native telemetry)."""

    REPORT_EVERY = timedelta(hours=1)

    def __init__(self, spec: SimDevice, encoder: Encoder, rng: random.Random) -> None:
        super().__init__(spec, encoder, rng)
        self.base_mpa = rng.uniform(*PRESSURE_MPA[spec.kind])
        # Extinguisher transmitters run on batteries; pipe transmitters are powered from the panel.
        self.battery = rng.randint(55, 100) if spec.kind == "extinguisher" else None

    def pressure(self, world: World) -> float:
        leak = next((f for f in world.faults_on(self.id) if f.kind == "extinguisher_leak"), None)
        if leak is not None:
            return leak_pressure(self.base_mpa, leak, world.now)
        if self.spec.kind == "extinguisher":
            return self.base_mpa
        # Pipe pressure sags a little in the evening demand peak.
        hour = world.now.astimezone(self.enc.tz).hour
        return self.base_mpa - (0.02 if 18 <= hour < 22 else 0.0)

    def state(self, world: World) -> State:
        state: State = {"pressure_mpa": round(self.pressure(world) + self.rng.gauss(0, 0.003), 3)}
        if self.battery is not None:
            state["battery"] = self.battery  # the native profile's alias for battery_pct
        return self._with_signal(state)


class SmokeDetector(Device):
    EVENT_KEYS = ("smoke", "battery_low")
    REPORT_EVERY = timedelta(hours=1)

    def __init__(self, spec: SimDevice, encoder: Encoder, rng: random.Random) -> None:
        super().__init__(spec, encoder, rng)
        self.battery = rng.randint(45, 100)

    def presence(self, world: World) -> tuple[bool, bool]:
        for f in world.faults_on(self.id):
            if f.kind == "battery_dies" and f.silent_from and world.now >= f.silent_from:
                return not (f.offline_from and world.now >= f.offline_from), True
        return True, False

    def events(self, world: World) -> State:
        faults = world.faults_on(self.id)
        battery = 4 if any(f.kind == "battery_dies" for f in faults) else self.battery
        return {"smoke": any(f.kind == "smoke_alarm" for f in faults), "battery_low": battery < 10}

    def state(self, world: World) -> State:
        faults = world.faults_on(self.id)
        battery = 4 if any(f.kind == "battery_dies" for f in faults) else self.battery
        state: State = {"smoke": any(f.kind == "smoke_alarm" for f in faults), "battery_pct": battery,
                        "battery_low": battery < 10, "tamper": False,
                        "voltage_v": round(2.6 + 0.004 * battery, 3)}
        if self.spec.convention == NATIVE:
            state["battery"] = state.pop("battery_pct")
        return self._with_signal(state)


class FireDoor(Device):
    """A fire door with a reed contact. Residents open it for a moment now and then in the day."""

    EVENT_KEYS = ("door_open",)
    REPORT_EVERY = timedelta(minutes=30)

    def __init__(self, spec: SimDevice, encoder: Encoder, rng: random.Random, seed: int) -> None:
        super().__init__(spec, encoder, rng)
        self.battery = rng.randint(50, 100)
        self.seed = seed

    def opening(self, slot: int) -> tuple[float, float] | None:
        """When someone walks through in quarter-hour `slot` (Unix time // 900), as (opened, closed)
        Unix seconds, or None. Only between 07:00 and 23:00; open for 25 s to 100 s (longer than
        the simulator's step, so every opening is seen)."""
        opened = slot * 900.0
        if not 7 <= datetime.fromtimestamp(opened, self.enc.tz).hour < 23:
            return None
        rng = random.Random(f"{self.seed}:{self.id}:{slot}")
        if rng.random() >= 0.08:
            return None
        opened += rng.uniform(0, 780)
        return opened, opened + rng.uniform(25, 100)

    def passing(self, now: datetime) -> bool:
        found = self.opening(int(now.timestamp() // 900))
        return found is not None and found[0] <= now.timestamp() < found[1]

    def events(self, world: World) -> State:
        propped = any(f.kind == "door_propped" for f in world.faults_on(self.id))
        return {"door_open": propped or self.passing(world.now)}

    def state(self, world: World) -> State:
        propped = any(f.kind == "door_propped" for f in world.faults_on(self.id))
        state: State = {"door_open": propped or self.passing(world.now), "battery_pct": self.battery,
                        "voltage_v": round(2.7 + 0.004 * self.battery, 3)}
        if self.spec.convention == NATIVE:
            state["battery"] = state.pop("battery_pct")
        return self._with_signal(state)


class Reader(Device):
    """A fixed checkpoint reader (mains) or a guard's handheld (battery): heartbeat telemetry only;
    its taps come from the patrol walker."""

    def __init__(self, spec: SimDevice, encoder: Encoder, rng: random.Random) -> None:
        super().__init__(spec, encoder, rng)
        self.battery = rng.randint(40, 100) if spec.kind == "handheld_reader" else None
        self.report_every = timedelta(minutes=15 if self.battery is None else 60)

    def state(self, world: World) -> State:
        state: State = {} if self.battery is None else {"battery": self.battery}
        return self._with_signal(state)


def build_devices(site: SimSite, rng: random.Random, seed: int) -> list[Device]:
    """One behaviour per simulated device; panel meters are wired to the lamps of their board."""
    devices: list[Device] = []
    lamps: dict[str, Lamp] = {}
    meters: list[SimDevice] = []
    for spec in site.devices:
        enc = Encoder(spec.convention, site.site_id, site.tz)
        if spec.kind == "lamp":
            lamps[spec.id] = Lamp(spec, enc, rng)
            devices.append(lamps[spec.id])
        elif spec.kind == "power_meter":
            meters.append(spec)
        elif spec.kind == "lux_sensor":
            devices.append(LuxSensor(spec, enc, rng))
        elif spec.kind in PRESSURE_MPA:
            devices.append(PressureTransmitter(spec, enc, rng))
        elif spec.kind == "smoke_detector":
            devices.append(SmokeDetector(spec, enc, rng))
        elif spec.kind == "fire_door":
            devices.append(FireDoor(spec, enc, rng, seed))
        else:
            devices.append(Reader(spec, enc, rng))
    for spec in meters:
        ways: dict[int, list[Lamp]] = {}
        for lamp in lamps.values():
            found = board_way(lamp.spec.circuit)
            if found is not None and found[0] == spec.circuit:
                ways.setdefault(found[1], []).append(lamp)
        channels = [ways.get(n, []) for n in range(1, max(ways, default=1) + 1)]
        devices.append(PanelMeter(spec, Encoder(spec.convention, site.site_id, site.tz), rng, channels))
    return devices
