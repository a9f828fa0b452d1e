"""The asset register: a CSV file (as exported from Excel) listing the site's devices.

Columns `device_id,kind,zone` are required; `profile,topic,location,owner,circuit` are optional and
any other column is tolerated (asset registers carry purchase dates, serial numbers...). Headers are
matched without regard to case or surrounding blanks ("Device ID" is `device_id`). A UTF-8 BOM, as
Excel writes with "CSV UTF-8", is accepted. Blank rows and rows whose first cell starts with `#`
are skipped. Every problem is reported as FILE:LINE with the CSV line the row starts on.

Unknown kinds: `check_inventory` reports them as problems (a typo like `smoke_detecter` would leave a
fire detector without its rules, so `sitegate check` must fail); `load_inventory` accepts them with a
logged warning so a running site is never stopped by a kind a newer profile or rule pack knows.
A site declares a kind of its own by giving it a heartbeat in `devices.heartbeat`.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import sys
from collections.abc import Collection
from pathlib import Path

from gateway.core.errors import ConfigError, Problem
from gateway.core.model import DeviceInfo
from gateway.core.validation import id_problem
from gateway.devices.topics import device_id as device_id_of

log = logging.getLogger("sitegate.inventory")

# The device kinds of CONTRACT.md, and the kind of a device nobody described.
KINDS: tuple[str, ...] = ("lamp", "lux_sensor", "power_meter", "extinguisher", "hydrant", "sprinkler",
                          "smoke_detector", "fire_door", "checkpoint_reader", "handheld_reader")
UNKNOWN_KIND = "unknown"
REQUIRED = ("device_id", "kind", "zone")
OPTIONAL = ("profile", "topic", "location", "owner", "circuit")


def load_inventory(path: Path) -> dict[str, DeviceInfo]:
    """The devices of the inventory by id; raises ConfigError listing every problem in the file."""
    devices, errors, unknown_kinds = _parse(path, KINDS)
    if errors:
        raise ConfigError(errors)
    for problem in unknown_kinds:
        log.warning("%s", problem)
    return devices


def check_inventory(path: Path, kinds: Collection[str] | None = None,
                    profiles: Collection[str] | None = None) -> list[Problem]:
    """Every problem in the inventory, unknown kinds included (known: CONTRACT.md's plus `kinds`).

    When `profiles` (profile names) is given, a `profile` cell must name one of them.
    """
    _devices, errors, unknown_kinds = _parse(path, (*KINDS, *(kinds or ())), profiles)
    return sorted(errors + unknown_kinds, key=lambda p: p.line)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(path, 1, f"cannot read the inventory: {exc.strerror}; check the path "
                                            "and its permissions")]) from None
    try:
        return data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError([Problem(path, line, "the inventory is not UTF-8 text (Excel's plain \"CSV\" uses "
                                               "the local code page, e.g. GBK); save it as \"CSV UTF-8\"")]) \
            from None


def _parse(path: Path, kinds: Collection[str], profiles: Collection[str] | None = None
           ) -> tuple[dict[str, DeviceInfo], list[Problem], list[Problem]]:
    try:
        text = _read_text(path)
    except ConfigError as exc:
        return {}, list(exc.problems), []
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[Problem] = []
    unknown: list[Problem] = []
    devices: dict[str, DeviceInfo] = {}
    first_line: dict[str, int] = {}
    try:
        header = _header(path, next(reader, []), errors)
        if header is None:
            return {}, errors, []
        while True:
            line = reader.line_num + 1  # a quoted cell may span lines: report where the row starts
            row = next(reader, None)
            if row is None:
                break
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if len(cells) > len(header) and any(cells[len(header):]):
                errors.append(Problem(path, line, f"row has {len(cells)} values but the header has "
                                                  f"{len(header)} columns; quote values that contain commas"))
                continue
            values = {name: cells[i] if i < len(cells) else "" for i, name in enumerate(header) if name}
            info = _device(path, line, values, errors, unknown, kinds, profiles)
            if info is None:
                continue
            if info.id in first_line:
                errors.append(Problem(path, line, f"device_id '{info.id}' is already used on line "
                                                  f"{first_line[info.id]}; give each device its own id"))
                continue
            first_line[info.id] = line
            devices[info.id] = info
    except csv.Error as exc:
        errors.append(Problem(path, reader.line_num or 1, f"the CSV cannot be read here ({exc}); check the "
                                                          "quotes on this line"))
    return devices, errors, unknown


def _header(path: Path, row: list[str], errors: list[Problem]) -> list[str] | None:
    names = [c.strip().lower().replace(" ", "_") for c in row]
    if len(names) == 1 and any(sep in row[0] for sep in ";\t"):
        errors.append(Problem(path, 1, "the columns are not separated by commas; save the file as "
                                       "\"CSV UTF-8 (comma delimited)\""))
        return None
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        found = ", ".join(n for n in names if n) or "nothing"
        errors.append(Problem(path, 1, f"the header lacks the required column(s) {', '.join(missing)} "
                                       f"(found: {found}); the first line must name at least "
                                       "device_id,kind,zone"))
        return None
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        errors.append(Problem(path, 1, f"the header names column(s) {', '.join(repeated)} more than once; "
                                       "keep one of each"))
        return None
    return names


def _device(path: Path, line: int, values: dict[str, str], errors: list[Problem], unknown: list[Problem],
            kinds: Collection[str], profiles: Collection[str] | None) -> DeviceInfo | None:
    device_id, kind, zone = values["device_id"], values["kind"], values["zone"]
    found = len(errors)
    if "/" in device_id and id_problem(dotted := device_id_of(device_id), allow_space=True) is None:
        # A Zigbee2MQTT friendly name grouped with '/' (B3/2F/smoke): its id joins the levels with '.'.
        errors.append(Problem(path, line, f"device_id '{device_id}' holds '/', which no device id can (ids are "
                                          f"single topic levels); for the device named {device_id} in its "
                                          f"topic, write {dotted}"))
    elif problem := id_problem(device_id, allow_space=True):
        errors.append(Problem(path, line, f"device_id {problem}; every row needs the device's id as it "
                                          "appears in its MQTT topic"))
    if problem := id_problem(zone):
        errors.append(Problem(path, line, f"zone {_shown(zone)}{problem}; write the zone's id (e.g. b1 or "
                                          "north-gate) and put descriptions in the location column"))
    if problem := id_problem(kind):
        errors.append(Problem(path, line, f"kind {_shown(kind)}{problem}; write one of {', '.join(KINDS)}"))
    elif kind not in kinds and kind != UNKNOWN_KIND:
        guess = difflib.get_close_matches(kind, [*kinds, UNKNOWN_KIND], n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"use one of {', '.join(KINDS)}"
        unknown.append(Problem(path, line, f"kind '{kind}' is not a known device kind; {hint} (a kind of "
                                           "your own needs a heartbeat in the site's devices.heartbeat)"))
    topic = values.get("topic", "")
    if topic and any(c in topic for c in "+#"):
        errors.append(Problem(path, line, f"topic '{topic}' contains a wildcard ('+' or '#'); give the "
                                          "device's own topic"))
    profile = values.get("profile") or None
    if profile and profiles is not None and profile not in profiles:
        guess = difflib.get_close_matches(profile, list(profiles), n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"known: {', '.join(sorted(profiles))}"
        errors.append(Problem(path, line, f"profile '{profile}' is not a known device profile; {hint}"))
    if len(errors) > found:
        return None
    # Kinds, zones, owners ... repeat down the register: one string each, not one per row (100,000
    # rows held ~4 copies each of what a few dozen strings say).
    return DeviceInfo(id=device_id, kind=sys.intern(kind), zone=sys.intern(zone), profile=_interned(profile),
                      location=_interned(values.get("location") or None),
                      owner=_interned(values.get("owner") or None),
                      circuit=_interned(values.get("circuit") or None))


def _interned(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)


def _shown(value: str) -> str:
    return f"'{value}' " if value else ""
