"""An installed (non-editable) copy must carry every subpackage and the data folders."""

from __future__ import annotations

import tomllib
from pathlib import Path

from gateway.core.paths import dashboards_dir, demo_site_dir, devices_dir, rules_dir

ROOT = Path(__file__).resolve().parent.parent


def test_every_gateway_subpackage_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gateway").rglob("__init__.py")}
    assert found - listed == set()


def test_data_folders_resolve_to_the_repository_folders() -> None:
    assert (devices_dir() / "zigbee2mqtt.yaml").is_file()
    assert rules_dir().name == "rules"
    assert dashboards_dir().name == "dashboards"
    assert (demo_site_dir() / "site.yaml").is_file()
