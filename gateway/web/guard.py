"""Which role each route needs, enforced for every request before routing.

Reads (GET, HEAD, OPTIONS) need viewer, which `read_open` grants to everyone; every other method
needs engineer unless a rule below says otherwise. A router added later is therefore protected by
default: its writes need engineer until someone lists them here as admin (or public).

Roles are partially ordered (gateway/auth/tokens.py `role_allows`): a service token does not pass
where engineer is needed. Ticket writes need only guard here, because the ticket API checks each
action and the ticket's zone itself (gateway/auth/permissions.py): this table is a floor, not the
whole decision.

Why a middleware and not a dependency inserted into each route: FastAPI builds a route's
dependencies when the route is included, and changing them afterwards means reaching into its
internals. Checking by method and path in front of the router covers routes and mounts added at any
time, with the same `Guard` that `deps.require(role)` uses for routes that declare their role.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.caller import SCOPE_KEY
from gateway.auth.tokens import Role, TokenStore, roles_allowed
from gateway.web.deps import STATE_KEY, Guard, Refusal
from gateway.web.headers import install_cors, install_security_headers

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANY = frozenset({"*"})
PUBLIC: Role | None = None  # no token needed, even when reads are closed


@dataclass(frozen=True)
class Rule:
    """Requests whose method is in `methods` ("*" for any) and whose path matches `path` (a route
    template: {name} is one segment, {name:path} the rest) need `role` (None: public)."""

    path: str
    role: Role | None
    methods: frozenset[str] = ANY
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", compile_path(self.path)[0])

    def matches(self, method: str, path: str) -> bool:
        return ("*" in self.methods or method in self.methods) and self._regex.match(path) is not None


# First match wins. Listed: what differs from the default (reads viewer, writes engineer).
RULES: tuple[Rule, ...] = (
    # The page and its assets load without a token, so it can show the sign-in dialog.
    Rule("/", PUBLIC, READ_METHODS),
    Rule("/static/{path:path}", PUBLIC, READ_METHODS),
    # Probes and load balancers; the answer holds no secrets.
    Rule("/api/health", PUBLIC, READ_METHODS),
    # Says who the presented token belongs to; the handler checks the token itself.
    Rule("/api/auth/me", PUBLIC, READ_METHODS),
    Rule("/api/auth/{rest:path}", "admin"),
    Rule("/api/config", "admin"),
    Rule("/api/config/{rest:path}", "admin"),
    Rule("/api/rules/reload", "admin"),
    Rule("/api/rules/{rest:path}", "admin", frozenset({"POST", "PUT", "PATCH", "DELETE"})),
    # Guards report problems and service staff dispatch and visit back: the ticket API decides per
    # action and zone (gateway/auth/permissions.py); this only keeps viewers and strangers out.
    Rule("/api/tickets", "guard", frozenset({"POST"})),
    Rule("/api/tickets/{ticket_id}/{action}", "guard", frozenset({"POST"})),
)


def required_role(method: str, path: str, rules: Iterable[Rule] = RULES) -> Role | None:
    """The role a request needs (None: public)."""
    method = method.upper()
    for rule in rules:
        if rule.matches(method, path):
            return rule.role
    return "viewer" if method in READ_METHODS else "engineer"


class PolicyMiddleware:
    """Pure ASGI (streams such as /api/events pass through untouched): refuse before routing."""

    def __init__(self, app: ASGIApp, guard: Guard, rules: Sequence[Rule] = RULES) -> None:
        self.app = app
        self.guard = guard
        self.rules = tuple(rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")  # a websocket handshake is a GET
        path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        need = required_role(method, path, self.rules)
        if need is None or self.guard.is_open(need):
            await self.app(scope, receive, send)
            return
        result = await self.guard.check(_header(scope, b"authorization"), need)
        if isinstance(result, Refusal):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": result.reason[:120]})
                return
            await JSONResponse({"detail": result.reason}, result.status, headers=result.headers)(scope, receive, send)
            return
        scope[SCOPE_KEY] = result
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def protect(app: FastAPI, store: TokenStore, *, read_open: bool, cors_origins: Sequence[str] = (),
            rules: Sequence[Rule] = RULES) -> Guard:
    """Secure `app`: the role policy, CORS (closed unless origins are listed) and security headers.

    Call once, before the server starts (after or before including routers: the policy is by path).
    """
    guard = Guard(store, read_open=read_open)
    setattr(app.state, STATE_KEY, guard)
    # Starlette runs the last added middleware first: headers outermost (even refusals get them),
    # then CORS (so a browser can read a refusal and preflights need no token), then the policy.
    app.add_middleware(PolicyMiddleware, guard=guard, rules=tuple(rules))
    install_cors(app, cors_origins)
    install_security_headers(app)
    _document(app, guard, tuple(rules))
    return guard


def _document(app: FastAPI, guard: Guard, rules: tuple[Rule, ...]) -> None:
    """Mark protected operations in /openapi.json: bearer security, and the 401/403 answers."""
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["HTTPBearer"] = {"type": "http", "scheme": "bearer",
                                 "description": "A Sitegate token (sg_...): `sitegate token create`."}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if not isinstance(operation, dict) or method.upper() not in _HTTP_METHODS:
                    continue
                need = required_role(method, path, rules)
                if need is None or guard.is_open(need):
                    continue
                operation["security"] = [{"HTTPBearer": []}]
                operation.setdefault("x-sitegate-role", need)
                answers = operation.setdefault("responses", {})
                answers.setdefault("401", {"description": "No token, or an unknown or revoked one (reason in "
                                                          "`detail`)."})
                answers.setdefault("403", {"description": f"The token's role is not one of "
                                                          f"{', '.join(roles_allowed(need))}."})
        return schema

    setattr(app, "openapi", openapi)  # noqa: B010 (assigning to a method)


_HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
