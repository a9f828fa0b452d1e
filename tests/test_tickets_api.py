from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.auth.tokens import TokenStore
from gateway.core.clock import FakeClock
from gateway.core.model import AlertEvent
from gateway.tickets.api import make_router
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore
from gateway.web.guard import protect

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)


def ev(device: str, severity: str = "minor", zone: str = "b1") -> AlertEvent:
    return AlertEvent(rule="fire.pressure_low", device=device, zone=zone, state="firing", severity=severity,
                      title=f"Low pressure {device}", ts=T0, value=0.8)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, TicketService, FakeClock]]:
    store = TicketStore(f"sqlite:///{tmp_path}/t.db")
    svc = TicketService(store, site_id="hv", tz=TZ, policy=TicketPolicy.model_validate(
        {"maintenance": [{"devices": ["ext-m"], "start": "2026-11-23T00:00:00", "end": "2026-11-24T00:00:00",
                          "reason": "annual inspection"}]}))
    clock = FakeClock(T0 + timedelta(minutes=30))
    app = FastAPI()
    app.include_router(make_router(svc, clock))
    svc.handle([ev("ext-1"), ev("ext-2", "critical", zone="b2"), ev("ext-m")])
    with TestClient(app) as client:
        yield client, svc, clock
    store.close()


def test_list_and_filters(setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, svc, _ = setup
    assert [t["id"] for t in client.get("/api/tickets").json()] == ["T-000002", "T-000001"]
    assert [t["id"] for t in client.get("/api/tickets", params={"zone": "b2"}).json()] == ["T-000002"]
    assert [t["id"] for t in client.get("/api/tickets", params={"severity": "minor"}).json()] == ["T-000001"]
    mine = client.get("/api/tickets", params={"device": "ext-1", "status": "open"}).json()
    assert [t["id"] for t in mine] == ["T-000001"]
    assert client.get("/api/tickets", params={"overdue": "true"}).json() == []
    svc.tick(T0 + timedelta(hours=1))
    assert [t["id"] for t in client.get("/api/tickets", params={"overdue": "true"}).json()] == ["T-000002"]
    assert client.get("/api/tickets", params={"status": "bogus"}).status_code == 422
    assert client.get("/api/tickets", params={"limit": 0}).status_code == 422


def test_get_one_has_the_contract_shape(setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, _, _ = setup
    doc = client.get("/api/tickets/T-000001").json()
    assert {"id", "rule", "device_id", "zone", "severity", "status", "title", "opened_at", "due_at",
            "occurrences", "assignee", "history"} <= set(doc)
    assert doc["due_at"] == "2026-11-24T21:00:00+08:00"
    assert set(doc["history"][0]) == {"at", "actor", "action", "note", "from", "to"}


def test_unknown_ticket_is_404_with_a_reason(setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, _, _ = setup
    for response, wanted in ((client.get("/api/tickets/T-000404"), "T-000404"),
                             (client.post("/api/tickets/T-000404/ack"), "T-000404"),
                             (client.get("/api/tickets/garbage"), "garbage")):
        assert response.status_code == 404
        assert response.json()["detail"].startswith(f"There is no ticket {wanted} at this site")


def test_actions_walk_the_lifecycle_with_the_clock_and_note(
        setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, _, clock = setup
    acked = client.post("/api/tickets/T-000001/ack", json={"note": "到场 on site"})
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    last = acked.json()["history"][-1]
    # No token store (an in-process app): nobody is identified, and the history says so.
    assert (last["actor"], last["note"], last["at"]) == ("anonymous", "到场 on site", "2026-11-23T21:30:00+08:00")
    clock.advance(timedelta(hours=1))
    assert client.post("/api/tickets/T-000001/resolve").json()["status"] == "resolved"  # body optional
    closed = client.post("/api/tickets/T-000001/revisit", json={"result": "ok", "satisfaction": 5}).json()
    assert closed["status"] == "closed" and closed["revisit_result"] == "ok" and closed["satisfaction"] == 5
    assert client.post("/api/tickets/T-000001/reopen", json={}).json()["status"] == "open"
    assert client.post("/api/tickets/T-000001/cancel", json={"note": "test"}).json()["status"] == "cancelled"


def test_illegal_transition_is_409_with_the_reason(
        setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, _, _ = setup
    response = client.post("/api/tickets/T-000001/close", json={"note": "too early"})
    assert response.status_code == 409
    assert response.json()["detail"] == ("Ticket T-000001 is open, so it cannot be closed (close); "
                                         "actions allowed now: ack, accept, arrive, resolve, cancel, feedback.")


def test_reopen_conflict_is_409(setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, svc, _ = setup
    client.post("/api/tickets/T-000001/resolve")
    svc.handle([ev("ext-1")])  # the fault is back: T-000003
    response = client.post("/api/tickets/T-000001/reopen")
    assert response.status_code == 409 and "T-000003 is already open" in response.json()["detail"]


@pytest.mark.parametrize("body", [{"note": 5}, {"note": "x", "surprise": 1}, [1, 2], "just text",
                                  {"actor": ""}])
def test_bad_bodies_are_422(setup: tuple[TestClient, TicketService, FakeClock], body: object) -> None:
    client, svc, _ = setup
    assert client.post("/api/tickets/T-000001/ack", json=body).status_code == 422
    assert svc.get("T-000001").status == "open"  # type: ignore[union-attr]


def test_unknown_action_is_not_a_route(setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, _, _ = setup
    assert client.post("/api/tickets/T-000001/escalate").status_code in (404, 405)


def test_suppressed_list(setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, _, _ = setup
    [row] = client.get("/api/tickets/suppressed").json()
    assert (row["device_id"], row["reason"], row["note"], row["count"]) == ("ext-m", "maintenance",
                                                                            "annual inspection", 1)


def test_openapi_lists_the_ticket_routes(setup: tuple[TestClient, TicketService, FakeClock]) -> None:
    client, _, _ = setup
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/tickets", "/api/tickets/{ticket_id}", "/api/tickets/{ticket_id}/ack",
            "/api/tickets/{ticket_id}/close"} <= set(paths)


@pytest.fixture
def guarded(setup: tuple[TestClient, TicketService, FakeClock],
            tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The same tickets behind the real token guard, with a supervisor token named "night shift"."""
    _, svc, clock = setup
    tokens = TokenStore.in_dir(tmp_path)
    engineer = tokens.create("night shift", "supervisor").secret
    app = FastAPI()
    app.include_router(make_router(svc, clock))
    protect(app, tokens, read_open=True)
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {engineer}"}
    tokens.close()


@pytest.mark.parametrize("action", ["ack", "resolve", "close", "reopen", "cancel"])
def test_the_history_names_the_tokens_holder_and_a_name_in_the_body_only_goes_into_the_note(
        guarded: tuple[TestClient, dict[str, str]], setup: tuple[TestClient, TicketService, FakeClock],
        action: str) -> None:
    client, auth = guarded
    _, svc, clock = setup
    before = {"close": ["resolve"], "reopen": ["resolve"]}.get(action, [])  # reach a status that allows it
    for step in before:
        # Resolved by the system (the condition cleared): a close needs no revisit.
        svc.act("T-000001", step, actor="system", now=clock.now())
    answer = client.post(f"/api/tickets/T-000001/{action}", headers=auth,
                         json={"note": "checked the gauge", "actor": "总经理 GM"})
    assert answer.status_code == 200, answer.text
    last = answer.json()["history"][-1]
    assert (last["actor"], last["note"]) == ("night shift", "总经理 GM: checked the gauge")


def test_without_a_name_in_the_body_the_note_is_kept_as_written(
        guarded: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = guarded
    last = client.post("/api/tickets/T-000001/ack", headers=auth, json={"note": "on my way"}).json()["history"][-1]
    assert (last["actor"], last["note"]) == ("night shift", "on my way")
    last = client.post("/api/tickets/T-000001/resolve", headers=auth, json={"actor": "Li Ming"}).json()["history"][-1]
    assert (last["actor"], last["note"]) == ("night shift", "Li Ming")
