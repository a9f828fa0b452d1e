"""Run a gateway with its HTTP server until SIGINT/SIGTERM, then stop cleanly (exit 0)."""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI

from gateway.api.app import create_app
from gateway.auth.bind import check_bind
from gateway.auth.config import AuthConfig, read_open
from gateway.auth.tokens import TokenStore
from gateway.config import Site
from gateway.httpserver import run_http
from gateway.service import Gateway
from gateway.wiring import attach_features

log = logging.getLogger("sitegate")


def open_tokens(site: Site) -> TokenStore:
    auth = site.section(AuthConfig)
    return TokenStore.in_dir(site.data_dir, cache_ttl=auth.token_cache_ttl.total_seconds())


def guarded_app(gw: Gateway, tokens: TokenStore) -> FastAPI:
    auth = gw.site.section(AuthConfig)
    return create_app(gw, tokens=tokens, read_open=read_open(auth, gw.site.http.host),
                      cors_origins=auth.cors_origins)


def serve(site: Site) -> None:
    tokens = open_tokens(site)
    if (problem := check_bind(site.http.host, tokens)) is not None:
        sys.stderr.write(problem + "\n")
        raise SystemExit(1)
    gw = Gateway(site)
    attach_features(gw)
    app = guarded_app(gw, tokens)
    gw.start()
    log.info("dashboard and API on http://%s:%d/", site.http.host, site.http.port)
    try:
        run_http(app, site.http.host, site.http.port)  # returns on SIGINT/SIGTERM
    finally:
        gw.stop()
        tokens.close()
