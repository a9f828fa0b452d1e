"""Write dashboards/*.json from the builders, or (`--check`) say which files differ from them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from scripts.dashboards import equipment, fleet, patrol

OUT = Path(__file__).resolve().parents[2] / "dashboards"
DASHBOARDS: dict[str, Callable[[], builders.Dashboard]] = {
    "equipment-health.json": equipment.dashboard,
    "fleet.json": fleet.dashboard,
    "patrol-coverage.json": patrol.dashboard,
}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as it is committed (key order of the SDK, UTF-8, final newline)."""
    encoder = JSONEncoder(indent=2, ensure_ascii=False)
    return {name: encoder.encode(make().build()) + "\n" for name, make in DASHBOARDS.items()}


def stale(out: Path = OUT) -> list[str]:
    """The dashboard files under `out` that are missing or differ from what the builders make."""
    return [name for name, text in render().items()
            if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.dashboards", description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder of the JSON files (default {OUT})")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale(args.out)
        for name in differ:
            print(f"{args.out / name} is out of date: run `make dashboards` and commit it.")
        return 1 if differ else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0
