"""`/api/auth`: who am I (for the dashboard's sign-in), and token administration for admins.

Every route here also declares its role with `require`, so it stays protected even if the policy
table were edited carelessly.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.permissions import GRANTS, PERMISSIONS
from gateway.auth.tokens import MAX_ZONES, Role, TokenError, TokenInfo, TokenStore
from gateway.web.deps import Refusal, guard_of, require

Admin = Annotated[TokenInfo | None, Depends(require("admin"))]


class NewTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="who or what uses it, e.g. night shift")
    role: Role
    zones: list[str] = Field(default_factory=list, max_length=MAX_ZONES,
                             description="the only zones it may act in, e.g. [\"B1\", \"B2\"]; empty: every zone")


def make_auth_router(store: TokenStore) -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["auth"])

    @router.get("/me", summary="The role and zones of the presented token (none: what anyone may do)")
    async def me(request: Request) -> dict[str, Any]:
        guard = guard_of(request)
        header = request.headers.get("authorization")
        if not header:
            return {"token": None, "role": "viewer" if guard.read_open else None, "read_open": guard.read_open}
        result = await guard.check(header, "viewer")
        if isinstance(result, Refusal):
            raise result.as_http_exception()
        # `may`: the ticket permissions of the role, so the dashboard offers only the buttons that
        # would work (the API still checks every action, and the token's zones, on its own).
        may = [p for p in PERMISSIONS if p in GRANTS[result.role]]
        return {"token": result.to_json(), "role": result.role, "read_open": guard.read_open, "may": may}

    @router.get("/tokens", summary="All tokens (never the tokens themselves)")
    def list_tokens(_admin: Admin) -> list[dict[str, Any]]:
        return [t.to_json() for t in store.list()]

    @router.post("/tokens", status_code=201, summary="Create a token; the answer is the only time it is shown")
    def create_token(body: NewTokenBody, _admin: Admin) -> dict[str, Any]:
        try:
            new = store.create(body.name, body.role, body.zones)
        except TokenError as exc:
            raise HTTPException(422, str(exc)) from None
        return {**new.info.to_json(), "token": new.secret}

    @router.post("/tokens/{token_id}/revoke", summary="Revoke a token")
    def revoke_token(token_id: str, _admin: Admin) -> dict[str, Any]:
        try:
            return store.revoke(token_id).to_json()
        except TokenError as exc:
            raise HTTPException(404, str(exc)) from None

    return router
