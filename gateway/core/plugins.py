"""Finding the features: every package `gateway/<name>/` with a `feature.py` is one.

A feature module declares (see docs/architecture.md, "Add a feature"):
- `ORDER`: int, where it attaches among the others (lower first; a feature attaches after those it uses);
- `SECTION`: `(key, model)` when it owns a top-level key of the site file, else None;
- `attach(gw, offline)`: plug its consumers, health lines and start/stop steps into the gateway,
  returning a handle (what the app, replay and the feature's router need);
- optionally `router(handle, gw)` (its HTTP routes) and `check(site)` (its part of `sitegate check`).

Discovery imports by name at run time, so lower layers (the site file reads the sections) can ask
for the features without importing a layer above them.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

import gateway


def feature_name(module: ModuleType) -> str:
    """`gateway.tickets.feature` -> `tickets`: the key of its handle in `gw.features`."""
    return module.__name__.split(".")[1]


@cache
def feature_modules() -> tuple[ModuleType, ...]:
    """The feature modules, in attach order."""
    found = []
    for info in pkgutil.iter_modules(gateway.__path__):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"gateway.{info.name}.feature")
        except ModuleNotFoundError as exc:
            if exc.name != f"gateway.{info.name}.feature":
                raise  # a feature whose own imports are broken must not vanish silently
            continue
        found.append(module)
    return tuple(sorted(found, key=lambda m: (m.ORDER, m.__name__)))
