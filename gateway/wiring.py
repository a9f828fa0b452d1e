"""Attach the feature consumers (rules and tickets, patrol, time series) to a gateway."""

from __future__ import annotations

from gateway.service import Gateway


def attach_features(gw: Gateway) -> None:
    """Features register here as they land; the core gateway runs without them."""
    del gw
