"""Security headers on every answer, and CORS closed unless the site lists origins.

The single source of these headers for the app. A route that sets its own (the dashboard sets a
stricter Content-Security-Policy on its files) keeps it: headers are only added when absent.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Our own origin only; `data:` images for the dashboard's inline blank favicon. No inline scripts.
CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
# The API docs page (gateway/web/api_docs.py) loads its viewer from our own /static/vendor, but
# starts it with an inline script and the viewer sets inline styles.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
DOCS_PATHS = ("/docs",)

HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """Pure ASGI (no buffering, so server-sent events stream as before)."""

    def __init__(self, app: ASGIApp, docs_paths: Sequence[str] = DOCS_PATHS) -> None:
        self.app = app
        self.docs_paths = tuple(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"].startswith(self.docs_paths) else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in headers}
                for name, value in (*HEADERS.items(), ("Content-Security-Policy", csp)):
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)


def install_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Allow cross-origin calls from exactly `origins`; none listed means no CORS headers at all, so
    browsers keep other sites' pages from reading the API (and from sending it JSON writes)."""
    if not origins:
        return
    # Bearer tokens, not cookies: credentials stay off, so a listed origin still needs a token.
    app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                       allow_headers=["Authorization", "Content-Type"], max_age=600)
