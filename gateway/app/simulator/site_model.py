"""What to simulate: the site's devices (its inventory) and its patrol plan, as plain values.

Every inventory row of a kind the simulator knows becomes a SimDevice speaking the convention of
its `profile` column (or the usual one for its kind when the column is empty). Readers named only
in the patrol file (a checkpoint's `reader`, a guard's handheld `reader`) are added, so a site
whose inventory lists no readers still sees its rounds walked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING

from gateway.app.simulator.conventions import NATIVE, SHELLY, TASMOTA, ZIGBEE2MQTT
from gateway.core.model import DeviceInfo
from gateway.ingest.inventory import load_inventory
from gateway.patrol.model import PatrolPlan, load_plan

if TYPE_CHECKING:
    from gateway.core.site import Site

# The conventions each kind can speak; the first is used when the inventory names no profile.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "lamp": (TASMOTA, SHELLY, ZIGBEE2MQTT, NATIVE),
    "lux_sensor": (ZIGBEE2MQTT, TASMOTA, NATIVE),
    "power_meter": (TASMOTA, NATIVE),
    "extinguisher": (NATIVE,),
    "hydrant": (NATIVE,),
    "sprinkler": (NATIVE,),
    "smoke_detector": (ZIGBEE2MQTT, NATIVE),
    "fire_door": (ZIGBEE2MQTT, NATIVE),
    "checkpoint_reader": (NATIVE,),
    "handheld_reader": (NATIVE,),
}

# Lamp circuits are named after their distribution board and way, e.g. AL5-WL1 is way 1 of board AL5;
# the board's panel meter (inventory `circuit` = AL5) measures way n on its channel n.
_CIRCUIT = re.compile(r"^(?P<board>.+)-WL(?P<way>\d+)$")


@dataclass(frozen=True, slots=True)
class SimDevice:
    id: str
    kind: str
    zone: str
    convention: str
    circuit: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class SimSite:
    site_id: str
    tz: tzinfo
    latitude: float | None
    longitude: float | None
    devices: tuple[SimDevice, ...]
    plan: PatrolPlan = field(default_factory=PatrolPlan)
    skipped: tuple[str, ...] = ()  # inventory rows the simulator cannot speak for, with why

    def of_kind(self, kind: str) -> list[SimDevice]:
        return [d for d in self.devices if d.kind == kind]

    def device(self, device_id: str) -> SimDevice:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(device_id)


def board_way(circuit: str | None) -> tuple[str, int] | None:
    """'AL5-WL1' -> ('AL5', 1): the panel meter board and its channel; None for other names."""
    if not circuit:
        return None
    m = _CIRCUIT.match(circuit)
    return (m.group("board"), int(m.group("way"))) if m else None


def build_sim_site(site_id: str, tz: tzinfo, latitude: float | None, longitude: float | None,
                   inventory: Mapping[str, DeviceInfo], plan: PatrolPlan | None = None) -> SimSite:
    """The simulated site from already-loaded parts (pure)."""
    plan = plan or PatrolPlan()
    devices: list[SimDevice] = []
    skipped: list[str] = []
    for info in inventory.values():
        conventions = SUPPORTED.get(info.kind)
        if conventions is None:
            skipped.append(f"{info.id}: the simulator has no behaviour for kind {info.kind!r}")
            continue
        convention = info.profile or conventions[0]
        if convention not in conventions:
            skipped.append(f"{info.id}: a {info.kind} cannot be simulated with profile {convention!r}; "
                           f"use one of {', '.join(conventions)}")
            continue
        devices.append(SimDevice(info.id, info.kind, info.zone, convention, info.circuit, info.location))
    known = {d.id for d in devices}
    for cp in plan.checkpoints:
        if cp.reader and cp.reader not in known:
            devices.append(SimDevice(cp.reader, "checkpoint_reader", cp.zone, NATIVE,
                                     location=cp.name or None))
            known.add(cp.reader)
    for guard in plan.guards:
        if guard.reader and guard.reader not in known:
            devices.append(SimDevice(guard.reader, "handheld_reader", "unassigned", NATIVE,
                                     location=f"handheld of {guard.name or guard.id}"))
            known.add(guard.reader)
    return SimSite(site_id, tz, latitude, longitude, tuple(devices), plan, tuple(skipped))


def load_sim_site(site: Site) -> SimSite:
    """The simulated site of a loaded site file: its inventory and patrol plan (ConfigError if bad)."""
    inventory = load_inventory(site.inventory) if site.inventory else {}
    plan = load_plan(site.patrol) if site.patrol else None
    return build_sim_site(site.site.id, site.tz, site.site.latitude, site.site.longitude, inventory, plan)
