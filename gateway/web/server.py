"""Serve the API in the main thread until SIGINT/SIGTERM, then return (so the caller can shut the
gateway down and exit 0)."""

from __future__ import annotations

import signal

import uvicorn
from fastapi import FastAPI


def run_http(app: FastAPI, host: str, port: int) -> None:
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                           access_log=False))
    # uvicorn re-raises the signal that stopped it once it has shut down, which would kill us before
    # the gateway has drained and snapshotted. Quiet handlers underneath make that re-raise a no-op.
    previous = {sig: signal.signal(sig, lambda _s, _f: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        raise RuntimeError(f"the HTTP server could not listen on {host}:{port}")
