"""Checking a request's bearer token against the role it needs: one `Guard`, used by the policy
middleware (every route) and by `require(role)` (a FastAPI dependency for explicit use).

401 (with `WWW-Authenticate: Bearer`) when the token is missing or invalid, 403 when its role does not
include the one needed (roles are partially ordered: `tokens.role_allows`); the answer's `detail`
says which and what to do. `read_open` grants the viewer role to everyone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from gateway.auth.caller import SCOPE_KEY, token_holder
from gateway.auth.tokens import ROLES, Role, TokenInfo, TokenStore, role_allows, roles_allowed

STATE_KEY = "sitegate_guard"  # app.state attribute holding the Guard (set by policy.protect)
REALM = 'Bearer realm="sitegate"'

# auto_error=False: we answer missing tokens ourselves (with a reason); this only documents the scheme.
bearer_scheme = HTTPBearer(auto_error=False, description="A Sitegate token: `sitegate token create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)

    def as_http_exception(self) -> HTTPException:
        return HTTPException(self.status, self.reason, headers=self.headers)


def _invalid(reason: str) -> Refusal:
    return Refusal(401, reason, {"WWW-Authenticate": f'{REALM}, error="invalid_token"'})


class Guard:
    """The token store and whether reads are open: decides one request."""

    def __init__(self, store: TokenStore, *, read_open: bool) -> None:
        self.store = store
        self.read_open = read_open

    def is_open(self, need: Role | None) -> bool:
        return need is None or (need == "viewer" and self.read_open)

    async def check(self, authorization: str | None, need: Role) -> TokenInfo | Refusal:
        """The caller's token if it has at least `need`, else why not (never mentions the token itself)."""
        if not authorization:
            return Refusal(401, f"This needs a token with the {_need_text(need)}; send it as "
                                "'Authorization: Bearer sg_...'. An admin creates one with `sitegate token "
                                f"create --role {need} --name NAME`.", {"WWW-Authenticate": REALM})
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _invalid("The Authorization header must be 'Bearer <token>' with a Sitegate token (sg_...).")
        # Off the event loop, even for a cached token: the store's lock may be held by a write
        # waiting for its database, and argon2 takes milliseconds of CPU on a cache miss.
        verdict = await run_in_threadpool(self.store.verify, token.strip())
        if verdict.info is None:
            return _invalid(verdict.reason)
        info = verdict.info
        if not role_allows(info.role, need):
            return Refusal(403, f"The token '{info.name}' has the {info.role} role; this needs the "
                                f"{_need_text(need)}. Ask an admin for a token with the {need} role.",
                           {"WWW-Authenticate": f'{REALM}, error="insufficient_scope"'})
        return info


def _need_text(need: Role) -> str:
    """"engineer role (or supervisor, admin)": spelled out, since "or higher" misleads in a partial order."""
    others = [r for r in roles_allowed(need) if r != need]
    if len(others) == len(ROLES) - 1:
        return f"{need} role (or any other)"
    return f"{need} role (or {', '.join(others)})" if others else f"{need} role"


def guard_of(request: Request) -> Guard:
    guard = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(guard, Guard):
        raise RuntimeError("require() is used but gateway.web.guard.protect(app, ...) was not called on this "
                           "app; call it after the routers are included.")
    return guard


def require(role: Role) -> Callable[..., Awaitable[TokenInfo | None]]:
    """A dependency: the caller's TokenInfo (None when the route is open to everyone), else 401/403."""

    async def dependency(request: Request, _credentials: Credentials) -> TokenInfo | None:
        done: Any = request.scope.get(SCOPE_KEY)
        if isinstance(done, TokenInfo) and role_allows(done.role, role):
            return done  # the policy middleware has already checked this request
        guard = guard_of(request)
        if guard.is_open(role):
            return None
        result = await guard.check(request.headers.get("authorization"), role)
        if isinstance(result, Refusal):
            raise result.as_http_exception()
        request.scope[SCOPE_KEY] = result
        return result

    dependency.__name__ = f"require_{role}"
    return dependency


def caller(request: Request) -> TokenInfo | None:
    """Who made an authorized request (None on open routes): e.g. to record a ticket action's actor."""
    return token_holder(request.scope)

