"""The asset register's maintenance columns: `last_inspection`, `next_due` and `expiry` (dates, YYYY-MM-DD).

The inventory loader (gateway/ingest/inventory.py) tolerates extra columns; this reads these three
from the same CSV, with the same header rules, and reports a bad date as FILE:LINE.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from gateway.core.errors import ConfigError, Problem

COLUMNS = ("last_inspection", "next_due", "expiry")


@dataclass(frozen=True, slots=True)
class AssetDates:
    last_inspection: date | None = None  # occurrences due on or before it count as done
    next_due: date | None = None  # an extra occurrence of the asset's first non-daily schedule
    expiry: date | None = None  # service or expiry date (an extinguisher's): past it, the asset is expired


def read_asset_dates(path: Path) -> tuple[dict[str, AssetDates], list[Problem]]:
    """Dates per device id, and every problem (a date that is not a date) as FILE:LINE."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return {}, []  # the inventory check reports an unreadable file
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [c.strip().lower().replace(" ", "_") for c in next(reader, [])]
    if "device_id" not in header or not any(c in header for c in COLUMNS):
        return {}, []
    found: dict[str, AssetDates] = {}
    problems: list[Problem] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error:
            break  # the inventory check reports it
        if row is None:
            break
        cells = dict(zip(header, (c.strip() for c in row), strict=False))
        device = cells.get("device_id", "")
        if not device or device.startswith("#"):
            continue
        values: dict[str, date | None] = {}
        for column in COLUMNS:
            raw = cells.get(column, "")
            try:
                values[column] = date.fromisoformat(raw) if raw else None
            except ValueError:
                problems.append(Problem(path, line, f"{column} {raw!r} of {device} is not a date; write it as "
                                                    "YYYY-MM-DD, e.g. 2026-11-30"))
                values[column] = None
        if any(v is not None for v in values.values()):
            found[device] = AssetDates(**values)
    return found, problems


def load_asset_dates(path: Path) -> dict[str, AssetDates]:
    found, problems = read_asset_dates(path)
    if problems:
        raise ConfigError(problems)
    return found
