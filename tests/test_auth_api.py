from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.testclient import TestClient

from gateway.auth.tokens import TokenInfo, TokenStore
from gateway.web.auth_api import make_auth_router
from gateway.web.deps import caller, require
from gateway.web.guard import protect, required_role
from tests.support.http_thread import ServerThread


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TokenStore]:
    s = TokenStore.in_dir(tmp_path)
    yield s
    s.close()


@pytest.fixture
def tokens(store: TokenStore) -> dict[str, str]:
    return {role: store.create(f"{role} one", role).secret
            for role in ("viewer", "guard", "engineer", "service", "supervisor", "admin")}


def make_app(store: TokenStore, *, read_open: bool = True, cors: tuple[str, ...] = ()) -> FastAPI:
    app = FastAPI()

    @app.get("/api/things")
    def things() -> list[str]:
        return ["lamp-1"]

    @app.post("/api/things")
    def add_thing(request: Request) -> dict[str, Any]:
        who = caller(request)
        return {"added": True, "by": who.name if who else None}

    @app.post("/api/tickets/{ticket_id}/ack")
    def ack(ticket_id: str) -> dict[str, str]:
        return {"id": ticket_id, "status": "acknowledged"}

    @app.post("/api/rules/reload")
    def reload() -> dict[str, bool]:
        return {"reloaded": True}

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/static/page.html")
    def page() -> Response:
        return Response("<p>hi</p>", media_type="text/html", headers={"Content-Security-Policy": "default-src 'none'"})

    @app.get("/api/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"data: 1\n\n", b"data: 2\n\n"]), media_type="text/event-stream")

    @app.get("/api/declared")
    def declared(who: Annotated[TokenInfo | None, Depends(require("engineer"))]) -> dict[str, str | None]:
        return {"by": who.name if who else None}

    app.include_router(make_auth_router(store))
    protect(app, store, read_open=read_open, cors_origins=cors)
    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_post_without_token_is_401_with_a_reason_and_www_authenticate(store: TokenStore) -> None:
    r = TestClient(make_app(store)).post("/api/things")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "engineer role" in r.json()["detail"] and "Authorization: Bearer" in r.json()["detail"]


def test_viewer_token_cannot_post_and_is_told_why(store: TokenStore, tokens: dict[str, str]) -> None:
    r = TestClient(make_app(store)).post("/api/things", headers=bearer(tokens["viewer"]))
    assert r.status_code == 403
    assert r.json()["detail"] == ("The token 'viewer one' has the viewer role; this needs the engineer role "
                                  "(or supervisor, admin). Ask an admin for a token with the engineer role.")


def test_engineer_can_post_and_act_on_tickets_and_is_known_to_the_handler(store: TokenStore,
                                                                          tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store))
    r = client.post("/api/things", headers=bearer(tokens["engineer"]))
    assert r.status_code == 200 and r.json() == {"added": True, "by": "engineer one"}
    assert client.post("/api/tickets/T-1/ack", headers=bearer(tokens["engineer"])).status_code == 200
    assert client.post("/api/tickets/T-1/ack", headers=bearer(tokens["viewer"])).status_code == 403
    # A guard passes the floor of ticket actions (the ticket API itself refuses it an ack).
    assert client.post("/api/tickets/T-1/ack", headers=bearer(tokens["guard"])).status_code == 200


def test_rule_reload_needs_admin(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store))
    assert client.post("/api/rules/reload", headers=bearer(tokens["engineer"])).status_code == 403
    assert client.post("/api/rules/reload", headers=bearer(tokens["admin"])).status_code == 200


def test_invalid_tokens_are_401_with_a_reason(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store))
    cases = {"Basic dXNlcjpwdw==": "must be 'Bearer <token>'", "Bearer ": "must be 'Bearer <token>'",
             "Bearer sg_" + "x" * 43: "not known", "Bearer nonsense": "malformed"}
    for header, reason in cases.items():
        r = client.post("/api/things", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert reason in r.json()["detail"]
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="sitegate", error="invalid_token"'


def test_revoked_token_is_refused(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store))
    assert client.post("/api/things", headers=bearer(tokens["engineer"])).status_code == 200
    (engineer,) = [t for t in store.list() if t.role == "engineer"]
    store.revoke(engineer.id)
    r = client.post("/api/things", headers=bearer(tokens["engineer"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_reads_are_open_only_when_configured(store: TokenStore, tokens: dict[str, str]) -> None:
    assert TestClient(make_app(store, read_open=True)).get("/api/things").status_code == 200
    closed = TestClient(make_app(store, read_open=False))
    r = closed.get("/api/things")
    assert r.status_code == 401 and "viewer role" in r.json()["detail"]
    assert closed.get("/api/things", headers=bearer(tokens["viewer"])).json() == ["lamp-1"]
    # The page, its assets and health stay reachable so the dashboard can ask for a token.
    assert closed.get("/api/health").status_code == 200
    assert closed.get("/static/page.html").status_code == 200


def test_a_route_added_after_protect_is_protected_by_default(store: TokenStore, tokens: dict[str, str]) -> None:
    app = make_app(store)

    @app.delete("/api/later/{item}")
    def later(item: str) -> dict[str, str]:
        return {"deleted": item}

    client = TestClient(app)
    assert client.delete("/api/later/x").status_code == 401
    assert client.delete("/api/later/x", headers=bearer(tokens["viewer"])).status_code == 403
    assert client.delete("/api/later/x", headers=bearer(tokens["engineer"])).status_code == 200


def test_policy_defaults_by_method_and_path() -> None:
    assert required_role("GET", "/api/devices") == "viewer"
    assert required_role("PUT", "/api/anything/new") == "engineer"
    # Ticket writes: a floor of guard; the ticket API checks each action (gateway/auth/permissions.py).
    assert required_role("POST", "/api/tickets/T-1/resolve") == "guard"
    assert required_role("POST", "/api/tickets") == "guard"
    assert required_role("PUT", "/api/tickets/T-1") == "engineer"
    assert required_role("GET", "/api/config") == "admin"
    assert required_role("GET", "/api/auth/tokens") == "admin"
    assert required_role("POST", "/api/rules/reload") == "admin"
    assert required_role("GET", "/") is None and required_role("POST", "/") == "engineer"


def test_require_dependency_checks_the_declared_role(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store, read_open=True))  # the policy lets the GET through; require() does not
    r = client.get("/api/declared")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/declared", headers=bearer(tokens["viewer"])).status_code == 403
    assert client.get("/api/declared", headers=bearer(tokens["engineer"])).json() == {"by": "engineer one"}


def test_token_admin_over_http_is_for_admins_only(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store, read_open=True))
    assert client.get("/api/auth/tokens").status_code == 401
    assert client.get("/api/auth/tokens", headers=bearer(tokens["engineer"])).status_code == 403
    r = client.post("/api/auth/tokens", json={"name": "day shift", "role": "engineer"},
                    headers=bearer(tokens["admin"]))
    assert r.status_code == 201
    created = r.json()
    assert client.post("/api/things", headers=bearer(created["token"])).status_code == 200
    listed = client.get("/api/auth/tokens", headers=bearer(tokens["admin"])).json()
    assert "day shift" in [t["name"] for t in listed] and all("token" not in t for t in listed)
    r = client.post(f"/api/auth/tokens/{created['id']}/revoke", headers=bearer(tokens["admin"]))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.post("/api/things", headers=bearer(created["token"])).status_code == 401


def test_me_tells_the_dashboard_what_it_may_do(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store, read_open=True))
    assert client.get("/api/auth/me").json() == {"token": None, "role": "viewer", "read_open": True}
    me = client.get("/api/auth/me", headers=bearer(tokens["engineer"])).json()
    assert me["role"] == "engineer" and me["token"]["name"] == "engineer one"
    # The role's ticket permissions (gateway/auth/permissions.py), so the page offers only what works.
    assert set(me["may"]) == {"ticket.create", "ticket.accept", "ticket.arrive", "ticket.ack", "ticket.resolve",
                              "ticket.reopen", "ticket.close", "ticket.feedback", "ticket.inspect"}
    service = client.get("/api/auth/me", headers=bearer(tokens["service"])).json()
    assert "ticket.revisit" in service["may"] and "ticket.cancel" not in service["may"]
    assert client.get("/api/auth/me", headers=bearer(tokens["viewer"])).json()["may"] == []
    assert client.get("/api/auth/me", headers=bearer("sg_" + "x" * 43)).status_code == 401


def test_tokens_never_reach_the_logs(store: TokenStore, tokens: dict[str, str],
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = TestClient(make_app(store, read_open=False))
    wrong = "sg_" + "Q" * 43
    for token in (*tokens.values(), wrong):
        client.get("/api/things", headers=bearer(token))
        client.post("/api/things", headers=bearer(token))
        client.post("/api/rules/reload", headers=bearer(token))
    client.post("/api/auth/tokens", json={"name": "n", "role": "viewer"}, headers=bearer(tokens["admin"]))
    assert caplog.records  # the capture works (httpx and friends log at debug)
    text = caplog.text + "".join(repr(r.args) + repr(r.__dict__) for r in caplog.records)
    for token in (*tokens.values(), wrong):
        assert token not in text and token[3:15] not in text


def test_security_headers_on_answers_and_refusals(store: TokenStore) -> None:
    client = TestClient(make_app(store))
    for r in (client.get("/api/things"), client.post("/api/things")):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    # A route's own, stricter policy is kept.
    assert client.get("/static/page.html").headers["Content-Security-Policy"] == "default-src 'none'"


def test_streams_pass_through_the_middleware(store: TokenStore) -> None:
    r = TestClient(make_app(store)).get("/api/stream")
    assert r.status_code == 200 and r.text == "data: 1\n\ndata: 2\n\n"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_cors_is_closed_by_default(store: TokenStore) -> None:
    client = TestClient(make_app(store))
    r = client.get("/api/things", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = client.options("/api/things", headers={"Origin": "https://evil.example",
                                                "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_allows_exactly_the_listed_origins(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store, cors=("https://ops.example.com",)))
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    ok = client.options("/api/things", headers={"Origin": "https://ops.example.com", **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ops.example.com"
    bad = client.options("/api/things", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers
    # A listed origin still needs a token to write.
    r = client.post("/api/things", headers={"Origin": "https://ops.example.com"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "https://ops.example.com"


def test_openapi_marks_protected_operations(store: TokenStore) -> None:
    schema = TestClient(make_app(store, read_open=True)).get("/openapi.json").json()
    post = schema["paths"]["/api/things"]["post"]
    assert post["security"] == [{"HTTPBearer": []}] and {"401", "403"} <= set(post["responses"])
    assert post["x-sitegate-role"] == "engineer"
    assert "security" not in schema["paths"]["/api/things"]["get"]
    assert schema["paths"]["/api/rules/reload"]["post"]["x-sitegate-role"] == "admin"
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


class BusyStore(TokenStore):
    """A token store whose lookups wait while `busy`, as they do while its lock is held by a write that
    waits for the disk (a `sitegate token create` in another process holding auth.db)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.busy = False
        self.entered, self.free = threading.Event(), threading.Event()

    def cached(self, token: str) -> TokenInfo | None:
        if self.busy:
            self.entered.set()
            self.free.wait(10)
        return super().cached(token)


def test_a_token_check_waiting_for_the_token_store_does_not_hold_up_the_server(tmp_path: Path) -> None:
    store = BusyStore(tmp_path / "auth.db")
    engineer = store.create("night shift", "engineer").secret
    with ServerThread(make_app(store)) as server:
        assert httpx.post(server.url + "/api/things", headers=bearer(engineer)).status_code == 200  # cached now
        store.busy = True
        answers: list[int] = []
        waiting = threading.Thread(target=lambda: answers.append(
            httpx.post(server.url + "/api/things", headers=bearer(engineer), timeout=15).status_code))
        waiting.start()
        try:
            assert store.entered.wait(5)
            assert httpx.get(server.url + "/api/health", timeout=3).json() == {"status": "ok"}
        finally:
            store.free.set()
            waiting.join(15)
        assert answers == [200]
    store.close()


def test_service_is_not_an_engineer_but_a_supervisor_is_both(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store))
    r = client.post("/api/things", headers=bearer(tokens["service"]))  # a write that needs engineer
    assert r.status_code == 403
    assert r.json()["detail"] == ("The token 'service one' has the service role; this needs the engineer role "
                                  "(or supervisor, admin). Ask an admin for a token with the engineer role.")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="sitegate", error="insufficient_scope"'
    assert client.get("/api/declared", headers=bearer(tokens["service"])).status_code == 403
    assert client.post("/api/things", headers=bearer(tokens["supervisor"])).status_code == 200
    # Ticket actions only need guard at the door, so service and guard get through to the ticket API.
    assert client.post("/api/tickets/T-1/ack", headers=bearer(tokens["service"])).status_code == 200
    assert client.post("/api/rules/reload", headers=bearer(tokens["supervisor"])).status_code == 403


def test_zone_limited_tokens_over_http(store: TokenStore, tokens: dict[str, str]) -> None:
    client = TestClient(make_app(store))
    r = client.post("/api/auth/tokens", json={"name": "B1 guards", "role": "guard", "zones": ["B1", " B2", "B1"]},
                    headers=bearer(tokens["admin"]))
    assert r.status_code == 201, r.text
    assert r.json()["zones"] == ["B1", "B2"] and r.json()["role"] == "guard"
    me = client.get("/api/auth/me", headers=bearer(r.json()["token"])).json()
    assert me["role"] == "guard" and me["token"]["zones"] == ["B1", "B2"]
    everywhere = client.get("/api/auth/me", headers=bearer(tokens["engineer"])).json()
    assert everywhere["token"]["zones"] == []
    listed = {t["name"]: t["zones"] for t in client.get("/api/auth/tokens", headers=bearer(tokens["admin"])).json()}
    assert listed["B1 guards"] == ["B1", "B2"] and listed["viewer one"] == []
    bad = client.post("/api/auth/tokens", json={"name": "x", "role": "guard", "zones": ["B1,B2"]},
                      headers=bearer(tokens["admin"]))
    assert bad.status_code == 422 and "without commas" in bad.json()["detail"]
    unknown_role = client.post("/api/auth/tokens", json={"name": "x", "role": "janitor"},
                               headers=bearer(tokens["admin"]))
    assert unknown_role.status_code == 422
