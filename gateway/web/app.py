"""The FastAPI application: core endpoints here, feature routers mounted from their packages, and
the lifespan that starts and stops the gateway (the one owner of start-up and shut-down)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette.sse import EventSourceResponse

from gateway.auth.tokens import TokenStore
from gateway.core.plugins import feature_modules, feature_name
from gateway.web.api_docs import add_api_docs
from gateway.web.auth_api import make_auth_router
from gateway.web.dashboard import make_dashboard_router
from gateway.web.guard import protect
from gateway.web.headers import install_security_headers
from gateway.web.overview_api import make_overview_router

if TYPE_CHECKING:
    from gateway.ingest.gateway import Gateway

SSE_PING_S = 15


def create_app(gw: Gateway, *, tokens: TokenStore | None = None, read_open: bool = True,
               cors_origins: Sequence[str] = ()) -> FastAPI:
    """The whole HTTP surface. With `tokens`, every route is guarded by role (gateway/web/guard.py);
    without (in-process tests), headers are still set and nothing is guarded.

    The app owns the gateway's life: its lifespan starts the gateway before the first request and
    stops it (drain, ack, snapshot) after the last, under uvicorn and under a `TestClient` alike."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gw.start()
        try:
            yield
        finally:
            gw.stop()

    app = FastAPI(title="Sitegate", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Edge gateway for property operations: devices, tickets, patrol rounds.")
    add_api_docs(app)  # /docs from the package's own files: sites are often offline

    @app.get("/api/health", summary="Gateway health")
    def health() -> dict[str, Any]:
        return gw.health()

    @app.get("/api/devices", summary="All devices with latest values")
    def devices(kind: str | None = None, zone: str | None = None,
                online: bool | None = None) -> list[dict[str, Any]]:
        out = gw.registry.views(gw.clock.now())
        return [d for d in out if (kind is None or d["kind"] == kind) and (zone is None or d["zone"] == zone)
                and (online is None or d["online"] is online)]

    @app.get("/api/devices/{device_id}", summary="One device", responses={404: {"description": "Unknown"}})
    def device(device_id: str) -> dict[str, Any]:
        view = gw.registry.view(device_id, gw.clock.now())
        if view is None:
            raise HTTPException(404, f"No device '{device_id}' is known; see /api/devices for the list.")
        return view

    @app.get("/api/deadletters", summary="Rejected messages, newest first")
    def deadletters(limit: int = Query(100, ge=1, le=10_000),
                    reason: str | None = None) -> list[dict[str, Any]]:
        return gw.deadletter_list(limit=limit, reason=reason)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(gw.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/api/events", summary="Live events (Server-Sent Events)")
    async def events(request: Request) -> EventSourceResponse:
        queue = gw.bus.subscribe()

        async def stream() -> AsyncIterator[dict[str, str]]:
            try:
                yield {"event": "hello", "data": orjson.dumps({"site": gw.site_id, "timezone": gw.site.site.timezone,
                                                                 "now": gw.clock.now().isoformat()}).decode()}
                while not await request.is_disconnected():
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=1.0)
                    except TimeoutError:
                        continue
                    yield {"event": event["type"], "data": orjson.dumps(event["data"]).decode()}
            finally:
                gw.bus.unsubscribe(queue)

        return EventSourceResponse(stream(), ping=SSE_PING_S)

    @app.exception_handler(ValueError)
    async def value_error(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    for module in feature_modules():  # each feature's routes, with the handle it attached
        handle = gw.features.get(feature_name(module))
        router = module.router(handle, gw) if handle is not None and hasattr(module, "router") else None
        if router is not None:
            app.include_router(router)
    app.include_router(make_overview_router(gw))
    app.include_router(make_dashboard_router())
    if tokens is not None:
        app.include_router(make_auth_router(tokens))
        protect(app, tokens, read_open=read_open, cors_origins=cors_origins)
    else:
        install_security_headers(app)
    return app
