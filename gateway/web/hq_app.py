"""The head office's FastAPI app: the fleet API, health, metrics, the fleet page at `/`, and the same
token guard as a site (gateway/web/guard.py). Its lifespan starts and stops the intake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.caller import SCOPE_KEY
from gateway.auth.tokens import TokenStore
from gateway.fleet.api import make_fleet_router
from gateway.fleet.metrics import FleetMetrics
from gateway.fleet.service import FleetService
from gateway.web.api_docs import add_api_docs
from gateway.web.auth_api import make_auth_router
from gateway.web.dashboard import make_dashboard_router
from gateway.web.deps import Guard, Refusal
from gateway.web.guard import protect
from gateway.web.headers import install_security_headers

FLEET_PAGE = "fleet/index.html"


def create_hq_app(service: FleetService, metrics: FleetMetrics, health: Callable[[], dict[str, Any]], *,
                  start: Callable[[], None] = lambda: None, stop: Callable[[], None] = lambda: None,
                  tokens: TokenStore | None = None, read_open: bool = True,
                  cors_origins: Sequence[str] = ()) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        start()
        try:
            yield
        finally:
            stop()

    app = FastAPI(title="Sitegate head office", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Every site in one view: events from the sites' gateways, stored once.")
    add_api_docs(app)

    @app.get("/api/health", summary="Head office health")
    def health_route() -> dict[str, Any]:
        return health()

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics_route() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.exception_handler(ValueError)
    async def value_error(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    app.include_router(make_fleet_router(service))
    app.include_router(make_dashboard_router(page=FLEET_PAGE))
    if tokens is not None:
        app.include_router(make_auth_router(tokens))
        guard = protect(app, tokens, read_open=read_open, cors_origins=cors_origins)
        app.add_middleware(IdentifyCaller, guard=guard)
    else:
        install_security_headers(app)
    return app


class IdentifyCaller:
    """With open reads, a request that still carries a token is answered as that token's holder: its
    site limits apply (a regional manager's page shows their sites even on an open head office).
    A token that does not verify is refused (401), never silently ignored."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = next((bytes(v).decode("latin-1") for k, v in scope.get("headers", ())
                       if k.lower() == b"authorization"), None) if scope["type"] == "http" else None
        if header and SCOPE_KEY not in scope:
            result = await self.guard.check(header, "viewer")
            if isinstance(result, Refusal):
                refusal = JSONResponse({"detail": result.reason}, result.status, headers=result.headers)
                await refusal(scope, receive, send)
                return
            scope[SCOPE_KEY] = result
        await self.app(scope, receive, send)
