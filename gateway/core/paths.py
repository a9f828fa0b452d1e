"""Where the data folders shipped with the package live, installed or in a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _builtin(name: str) -> Path:
    return Path(str(resources.files(f"gateway.builtin.{name}")))


def devices_dir() -> Path:
    """Built-in device profiles (`devices/` in the repository)."""
    return _builtin("devices")


def rules_dir() -> Path:
    """The built-in rule pack (`rules/` in the repository)."""
    return _builtin("rules")


def dashboards_dir() -> Path:
    """Grafana dashboards (`dashboards/` in the repository)."""
    return _builtin("dashboards")


def demo_site_dir() -> Path:
    """The demo site that `sitegate demo` runs (`examples/demo-site/` in the repository)."""
    return _builtin("demo_site")


def headoffice_dir() -> Path:
    """The head-office examples: bridge and broker configs, hq.yaml (`examples/headoffice/`)."""
    return _builtin("headoffice")
