"""Run a gateway with its HTTP server until SIGINT/SIGTERM, then stop cleanly (exit 0)."""

from __future__ import annotations

import logging

from gateway.api.app import create_app
from gateway.config import Site
from gateway.httpserver import run_http
from gateway.service import Gateway
from gateway.wiring import attach_features

log = logging.getLogger("sitegate")


def serve(site: Site) -> None:
    gw = Gateway(site)
    attach_features(gw)
    app = create_app(gw)
    gw.start()
    log.info("dashboard and API on http://%s:%d/", site.http.host, site.http.port)
    try:
        run_http(app, site.http.host, site.http.port)  # returns on SIGINT/SIGTERM
    finally:
        gw.stop()
