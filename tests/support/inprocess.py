"""A whole gateway in this process (rules, tickets, patrol, time series) on an accelerated site clock,
connected to a real broker: for end-to-end tests that need the site's time to pass quickly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from gateway.app.features import attach_features
from gateway.core.clock import SiteClock
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.web.app import create_app


@contextmanager
def site_gateway(site_file: Path, data: Path, *, start: datetime,
                 speed: float) -> Iterator[tuple[Gateway, SiteClock, TestClient]]:
    site = load_site(site_file, Overrides(data=str(data)))
    clock = SiteClock(start, speed)
    gw = Gateway(site, clock=clock)
    attach_features(gw)
    with TestClient(create_app(gw)) as api:  # its lifespan starts and stops the gateway
        assert gw.mqtt is not None and gw.mqtt.connected.wait(10), "the gateway did not connect"
        yield gw, clock, api
