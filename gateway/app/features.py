"""Attach every feature to a gateway: a loop over the `feature.py` modules (gateway/core/plugins.py).

Adding a feature means adding a package with a `feature.py`; nothing here changes. Each feature's
handle is kept in `gw.features` under its package name (`gw.features["tickets"]`), where the web
layer finds what its router needs and replay finds what it reads.
"""

from __future__ import annotations

from typing import Any

from gateway.core.plugins import feature_modules, feature_name
from gateway.ingest.gateway import Gateway


def attach_features(gw: Gateway, *, offline: bool = False) -> dict[str, Any]:
    """`offline` (replay): no webhooks, no InfluxDB, no reload thread; the same logic otherwise."""
    for module in feature_modules():
        gw.features[feature_name(module)] = module.attach(gw, offline)
    return gw.features
