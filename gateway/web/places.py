"""The floor list: the site's zones, and within each zone its floors, with device, offline, faulty and
open-ticket counts. Pure: device views and tickets in, a list out (docs/dashboard.md, "Floor list").

A zone is what the inventory's `zone` column says (in the demo a building, a gate, the plaza, the
garage). The floor is read from the location text, where asset registers write it: "5F", "5层",
"B2F"/"地下2层" (a basement). Locations without a floor (a lamp on the plaza path) count for the zone
only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

FLOOR = re.compile(r"(?<![A-Za-z0-9])(B?\d{1,3})F\b|地下(\d{1,2})层|(?<![\d号])(\d{1,3})层")
ACTIVE = ("open", "acknowledged")


def floor_of(location: str | None) -> str | None:
    """"1号楼 5层消防箱 B1 5F fire cabinet" -> "5F"; "地下2层" -> "B2F"; None when no floor is written."""
    if not location:
        return None
    found = FLOOR.search(location)
    if found is None:
        return None
    latin, basement, storey = found.groups()
    if latin:
        return f"{latin}F"
    return f"B{basement}F" if basement else f"{storey}F"


def _floor_order(name: str) -> tuple[int, int]:
    basement = name.startswith("B")
    number = int(name.strip("BF"))
    return (0, -number) if basement else (1, number)


def _counts() -> dict[str, int]:
    return {"devices": 0, "offline": 0, "faulty": 0, "open_tickets": 0}


def floor_list(devices: Sequence[Mapping[str, Any]], tickets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`[{"zone", "devices", "offline", "faulty", "open_tickets", "floors": [{"floor", ...counts}]}]`,
    zones by name; floors from the lowest basement up."""
    zones: dict[str, dict[str, Any]] = {}
    where: dict[str, tuple[str, str | None]] = {}

    def slot(zone: str, floor: str | None) -> list[dict[str, int]]:
        z = zones.setdefault(zone, {"zone": zone, **_counts(), "floors": {}})
        out: list[dict[str, int]] = [z]
        if floor is not None:
            out.append(z["floors"].setdefault(floor, {"floor": floor, **_counts()}))
        return out

    for d in devices:
        zone, floor = str(d.get("zone") or "unassigned"), floor_of(d.get("location"))
        where[str(d["id"])] = (zone, floor)
        for c in slot(zone, floor):
            c["devices"] += 1
            c["offline"] += d.get("online") is False
            c["faulty"] += d.get("health_band") == "faulty"
    for t in tickets:
        if t.get("status") not in ACTIVE:
            continue
        zone, floor = where.get(str(t.get("device_id") or ""), (str(t.get("zone") or "unassigned"), None))
        for c in slot(zone, floor):
            c["open_tickets"] += 1
    return [{**z, "floors": sorted(z["floors"].values(), key=lambda f: _floor_order(f["floor"]))}
            for _, z in sorted(zones.items())]
