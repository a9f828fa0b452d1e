"""Run a gateway with its HTTP server until SIGINT/SIGTERM, then stop cleanly (exit 0)."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from gateway.app.features import attach_features
from gateway.auth.bind import check_bind
from gateway.auth.config import AuthConfig, read_open
from gateway.auth.tokens import TokenError, TokenStore
from gateway.core.clock import Clock
from gateway.core.heap import settle_heap
from gateway.core.site import Site
from gateway.ingest.gateway import Gateway
from gateway.web.app import create_app
from gateway.web.server import run_http

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("sitegate")


def open_tokens(site: Site) -> TokenStore:
    auth = site.section(AuthConfig)
    return TokenStore.in_dir(site.data_dir, cache_ttl=auth.token_cache_ttl.total_seconds())


def guarded_app(gw: Gateway, tokens: TokenStore) -> FastAPI:
    auth = gw.site.section(AuthConfig)
    return create_app(gw, tokens=tokens, read_open=read_open(auth, gw.site.http.host),
                      cors_origins=auth.cors_origins)


def serve(site: Site, *, clock: Clock | None = None) -> None:
    """`clock`: the site clock everything time-based runs on (default: the wall clock)."""
    try:
        tokens = open_tokens(site)
    except TokenError as exc:  # e.g. an old auth.db that cannot be upgraded: say why, not a traceback
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(1) from None
    if (problem := check_bind(site.http.host, tokens)) is not None:
        sys.stderr.write(problem + "\n")
        raise SystemExit(1)
    gw = Gateway(site, clock=clock)
    attach_features(gw)
    app = guarded_app(gw, tokens)
    settle_heap()  # what exists now (modules, profiles, rules, the app) lives as long as the process
    log.info("dashboard and API on http://%s:%d/", site.http.host, site.http.port)
    try:
        run_http(app, site.http.host, site.http.port)  # starts the gateway; returns on SIGINT/SIGTERM once it stopped
    finally:
        tokens.close()
