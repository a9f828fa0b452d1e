"""Auth as a feature: owns the `auth:` section of the site file. Tokens guard the HTTP surface,
so the web layer (gateway/web/app.py) applies it; nothing plugs into the pipeline."""

from __future__ import annotations

from gateway.auth.config import AuthConfig
from gateway.ingest.gateway import Gateway

ORDER = 90
SECTION = ("auth", AuthConfig)


def attach(gw: Gateway, offline: bool) -> AuthConfig:
    return gw.site.section(AuthConfig)
