"""Building head-office events from plain data: ids, types, topics and shapes (contract v1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from pydantic import ValidationError

from gateway.events.build import (
    DeviceState,
    Site,
    device_event,
    health_event,
    round_event,
    ticket_event,
    ticket_type,
    topic,
)
from gateway.events.config import EventsConfig

TZ = ZoneInfo("Asia/Shanghai")
SITE = Site("harbor-view", "海景花园 Harbor View", TZ)


def entry(at: str, action: str, frm: str | None, to: str) -> dict[str, Any]:
    return {"at": at, "actor": "system", "action": action, "note": "", "from": frm, "to": to}


def ticket(revision: int, history: list[dict[str, Any]], status: str = "open", **more: Any) -> dict[str, Any]:
    return {"id": "T-000007", "rule": "fire.extinguisher_low", "status": status, "severity": "major",
            "opened_at": "2026-12-02T21:00:00+08:00", "last_seen_at": history[-1]["at"], "revision": revision,
            "history": history, "deadlines": {"respond": "2026-12-02T23:00:00+08:00"}, "source": "sensor", **more}


OPENED = entry("2026-12-02T21:00:00+08:00", "opened", None, "open")


def payload(event_bytes: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(event_bytes)
    return doc


def test_a_ticket_change_is_the_full_api_ticket_with_an_id_per_revision() -> None:
    doc = ticket(1, [OPENED])
    e = ticket_event(SITE, {**doc, "change": "opened"}, "opened")
    body = payload(e.payload)
    assert e.topic == "sitegate/harbor-view/events/ticket"
    assert e.id == body["id"] == "harbor-view/ticket/T-000007/1"
    assert body == {"v": 1, "id": "harbor-view/ticket/T-000007/1", "site": "harbor-view",
                    "site_name": "海景花园 Harbor View", "type": "ticket.opened",
                    "at": "2026-12-02T21:00:00+08:00", "data": doc}  # the bus's "change" key is not data


def test_the_same_change_has_the_same_id_and_every_change_a_new_one() -> None:
    first = ticket_event(SITE, ticket(1, [OPENED]), "opened")
    again = ticket_event(SITE, ticket(1, [OPENED]), "opened")
    # A repeat occurrence adds no history entry, but it is a change: revision 2, a new id, at its time.
    repeat = ticket_event(SITE, {**ticket(2, [OPENED]), "last_seen_at": "2026-12-02T21:05:00+08:00"}, "occurrence")
    assert first.id == again.id and first.payload == again.payload
    assert repeat.id == "harbor-view/ticket/T-000007/2" and repeat.type == "ticket.changed"
    assert payload(repeat.payload)["at"] == "2026-12-02T21:05:00+08:00"


def test_a_ticket_without_revision_gets_its_history_count() -> None:
    doc = ticket(0, [OPENED, entry("2026-12-02T21:10:00+08:00", "acknowledged", "open", "acknowledged")])
    del doc["revision"]
    e = ticket_event(SITE, doc, "acknowledged")
    assert e.id == "harbor-view/ticket/T-000007/2" and payload(e.payload)["data"]["revision"] == 2


@pytest.mark.parametrize(("change", "last", "status", "expected"), [
    ("opened", OPENED, "open", "ticket.opened"),
    ("acknowledged", entry("2026-12-02T21:10:00+08:00", "acknowledged", "open", "acknowledged"), "acknowledged",
     "ticket.changed"),
    ("escalated", entry("2026-12-02T23:00:00+08:00", "escalated", "open", "open"), "open", "ticket.escalated"),
    ("severity_raised", entry("2026-12-02T21:20:00+08:00", "severity_raised", "open", "open"), "open",
     "ticket.escalated"),
    ("emergency_level", entry("2026-12-02T21:20:00+08:00", "emergency_level", "open", "open"), "open",
     "ticket.escalated"),
    ("closed", entry("2026-12-03T09:00:00+08:00", "closed", "resolved", "closed"), "closed", "ticket.closed"),
    ("cancelled", entry("2026-12-03T09:00:00+08:00", "cancelled", "open", "cancelled"), "cancelled",
     "ticket.closed"),
    # revisit ok closes the ticket through the revisit action
    ("revisited", entry("2026-12-04T10:00:00+08:00", "revisited", "resolved", "closed"), "closed", "ticket.closed"),
    # a note on a ticket already closed, and a repeat after closing, are changes, not a second closing
    ("folded", entry("2026-12-04T10:00:00+08:00", "folded", "closed", "closed"), "closed", "ticket.changed"),
    ("occurrence", entry("2026-12-03T09:00:00+08:00", "closed", "resolved", "closed"), "closed", "ticket.changed"),
])
def test_ticket_types(change: str, last: dict[str, Any], status: str, expected: str) -> None:
    assert ticket_type({"status": status, "history": [OPENED, last]}, change) == expected


ROUND = {"route": "night-north", "round_id": "night-north@2026-12-02T22:00", "scheduled_start":
         "2026-12-02T22:00:00+08:00", "status": "incomplete", "expected": 6, "visited": 5, "missed": ["cp-4"],
         "late": 1, "coverage": 5 / 6, "guard": "G0017", "ended_at": "2026-12-02T22:45:00+08:00"}


def test_a_finished_round_has_its_round_id_and_a_revision_its_own() -> None:
    at = datetime(2026, 12, 2, 22, 45, tzinfo=TZ)
    done = round_event(SITE, {"change": "round_incomplete", "checkpoint": None, **ROUND}, "round_incomplete", at)
    assert done is not None and done.topic == "sitegate/harbor-view/events/round"
    body = payload(done.payload)
    assert body["id"] == "harbor-view/round/night-north@2026-12-02T22:00" and body["type"] == "round.finished"
    assert body["data"] == ROUND and body["at"] == "2026-12-02T22:45:00+08:00"
    revised = round_event(SITE, {**ROUND, "visited": 6, "missed": [], "coverage": 1.0}, "round_revised", at)
    assert revised is not None and revised.id == "harbor-view/round/night-north@2026-12-02T22:00/rev-6-1-0"
    assert round_event(SITE, ROUND, "checkpoint_missed", at) is None


VIEW = {"id": "smoke-3", "kind": "smoke_detector", "zone": "b2", "online": False, "health": 0.0,
        "health_band": "offline", "health_reasons": ["offline since 21:02"], "last_seen": "2026-12-02T20:02:00+08:00"}


def test_a_device_state_event_says_online_and_healthy_with_its_since() -> None:
    state = DeviceState.of(VIEW)
    assert state == DeviceState("offline", False)
    since = datetime(2026, 12, 2, 13, 2, tzinfo=UTC)
    e = device_event(SITE, VIEW, state, since)
    body = payload(e.payload)
    assert e.id == "harbor-view/device/smoke-3/2026-12-02T21:02:00+08:00"
    assert body["type"] == "device.state" and body["at"] == "2026-12-02T21:02:00+08:00"
    assert {k: body["data"][k] for k in ("device", "kind", "zone", "online", "health", "state", "healthy", "since")} \
        == {"device": "smoke-3", "kind": "smoke_detector", "zone": "b2", "online": False, "health": 0.0,
            "state": "offline", "healthy": False, "since": "2026-12-02T21:02:00+08:00"}


@pytest.mark.parametrize(("online", "band", "expected"), [
    (True, "good", DeviceState("online", True)), (True, "degraded", DeviceState("online", True)),
    (True, "faulty", DeviceState("online", False)), (None, "good", None)])
def test_device_state_from_its_view(online: bool | None, band: str, expected: DeviceState | None) -> None:
    assert DeviceState.of({**VIEW, "online": online, "health_band": band}) == expected


FIGURES = {"open_tickets": 4, "overdue_tickets": 1, "critical_tickets": 0, "devices_total": 120,
           "devices_offline": 3, "timeliness_month": 0.9}


def test_health_has_one_id_per_utc_minute_and_the_figures() -> None:
    at = datetime(2026, 12, 3, 1, 31, 42, tzinfo=TZ)  # 17:31:42 UTC the day before
    e = health_event(SITE, {"status": "ok", "mqtt": "connected"}, FIGURES, at)
    body = payload(e.payload)
    assert e.id == "harbor-view/health/2026-12-02T17:31Z" and e.topic == "sitegate/harbor-view/events/health"
    assert body["data"] == {"status": "ok", "mqtt": "connected", **FIGURES}
    assert body["at"] == "2026-12-03T01:31:42+08:00" and body["type"] == "gateway.health"
    later = health_event(SITE, {"status": "ok"}, FIGURES, at.replace(second=59))
    assert later.id == e.id
    with pytest.raises(ValueError, match="timeliness_month"):
        health_event(SITE, {}, {k: v for k, v in FIGURES.items() if k != "timeliness_month"}, at)


def test_an_unknown_kind_or_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="kind 'alarm'"):
        topic("harbor-view", "alarm")
    with pytest.raises(ValueError, match="no offset"):
        health_event(SITE, {}, FIGURES, datetime(2026, 12, 2, 17, 31))


def test_the_events_section_refuses_a_health_interval_under_a_minute() -> None:
    assert EventsConfig().enabled and EventsConfig().health_interval.total_seconds() == 60
    with pytest.raises(ValidationError, match="at least 1m"):
        EventsConfig.model_validate({"health_interval": "10s"})
