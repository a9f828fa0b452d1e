"""Emergency levels end to end through the ticket service: levels set and raised by what happens in
a zone, and each level's notification list delivered (a real SMTP server on loopback, a fake MQTT
publisher, an in-process webhook receiver) with every outcome in the ticket's history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.core.model import AlertEvent
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore
from gateway.tickets.ticket import Ticket
from tests.support.mosquitto import free_port

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)
MIN = timedelta(minutes=1)
FAST_RETRY = {"max_attempts": 3, "backoff": 0.05, "backoff_max": 0.2}


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                urgent: bool = False) -> None:
        self.sent.append((topic, orjson.loads(payload)))


class Inbox:
    """aiosmtpd handler: keeps every message; refuses every recipient with `refuse` when set."""

    def __init__(self, refuse: str | None = None) -> None:
        self.messages: list[Envelope] = []
        self.refuse = refuse
        self.rcpt_attempts = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        self.rcpt_attempts += 1
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TicketStore]:
    s = TicketStore(f"sqlite:///{tmp_path}/tickets.db")
    yield s
    s.close()


def smtp_server(handler: Inbox) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller


def smoke(device: str, at: datetime, zone: str = "b1") -> AlertEvent:
    return AlertEvent(rule="fire.smoke", device=device, zone=zone, state="firing", severity="critical",
                      title=f"烟感报警 Smoke alarm: {device}", ts=at, value=True, category="fire",
                      labels={"severity": "critical", "category": "fire", "fault": "smoke"})


def service(store: TicketStore, response: dict[str, Any], *, publisher: FakePublisher | None = None,
            notices: bool = True) -> TicketService:
    policy = TicketPolicy.model_validate({"emergency_response": response})
    svc = TicketService(store, site_id="hv", tz=TZ, policy=policy, publisher=publisher, emergency_notices=notices)
    svc.start()
    return svc


def notes(t: Ticket | None, action: str) -> list[str]:
    assert t is not None
    return [h.note for h in t.history if h.action == action]


def test_a_second_smoke_detector_raises_both_tickets_to_level_2(store: TicketStore) -> None:
    pub = FakePublisher()
    svc = service(store, {}, publisher=pub, notices=False)
    [first] = svc.handle([smoke("sd-1", T0)])
    assert first.emergency_level == 3 and first.emergency
    changed = {t.id: t for t in svc.handle([smoke("sd-2", T0 + 4 * MIN)])}
    assert {i: t.emergency_level for i, t in changed.items()} == {"T-000001": 2, "T-000002": 2}
    first_again = svc.get("T-000001")
    assert first_again is not None and first_again.emergency_level == 2
    assert notes(first_again, "emergency_level")[-1] == (
        "emergency level 2 (二级): 两个烟感相继报警 2 smoke detectors within 10 min: "
        "2 smoke detectors in alarm (sd-1, sd-2) in zone b1 (was level 3)")
    level_entry = [h for h in first_again.history if h.action == "emergency_level"][-1]
    assert level_entry.at == T0 + 4 * MIN  # when the second detector went off
    # Every change is published on the ticket's topic as usual, the level with it.
    published = [doc for topic, doc in pub.sent if topic == "sitegate/hv/tickets/T-000001"]
    assert published[-1]["emergency_level"] == 2
    # A repeat of a detector changes nothing about the level: once per level per ticket.
    svc.handle([smoke("sd-1", T0 + 6 * MIN)])
    assert len(notes(svc.get("T-000001"), "emergency_level")) == 2
    svc.close()


def test_a_third_detector_makes_it_level_1_even_hours_later(store: TicketStore) -> None:
    svc = service(store, {}, notices=False)
    svc.handle([smoke("sd-1", T0)])
    svc.handle([smoke("sd-2", T0 + 2 * 60 * MIN)])  # too late for level 2: both stay at 3
    assert [t.emergency_level for t in svc.list()] == [3, 3]
    svc.handle([smoke("sd-3", T0 + 3 * 60 * MIN)])
    assert [t.emergency_level for t in svc.list()] == [1, 1, 1]
    svc.close()


def test_level_2_email_reaches_a_real_smtp_server_and_the_history_says_so(store: TicketStore) -> None:
    inbox = Inbox()
    server = smtp_server(inbox)
    try:
        svc = service(store, {
            "smtp": {"host": "127.0.0.1", "port": server.port, "starttls": False, "from": "sitegate@hv.example"},
            "levels": {2: {"email": ["ops@hv.example"]}},
            "retry": FAST_RETRY,
        })
        svc.handle([smoke("sd-1", T0)])  # level 3: nobody on its list
        before = datetime.now(TZ)
        svc.handle([smoke("sd-2", T0 + MIN)])
        assert svc.emergency.flush(10)
        after = datetime.now(TZ)
        svc.close()
    finally:
        server.stop()
    assert len(inbox.messages) == 2  # one per ticket raised to level 2
    subjects = set()
    for envelope in inbox.messages:
        assert envelope.rcpt_tos == ["ops@hv.example"] and envelope.mail_from == "sitegate@hv.example"
        assert isinstance(envelope.content, bytes)
        msg = message_from_bytes(envelope.content)
        subjects.add(str(make_header(decode_header(msg["Subject"]))))
    assert any("T-000001" in s for s in subjects) and any("T-000002" in s for s in subjects)
    assert all("level 2" in s and "二级" in s for s in subjects), subjects
    for ticket_id in ("T-000001", "T-000002"):
        t = svc.get(ticket_id)
        assert notes(t, "notified") == ["level 2 -> email ops@hv.example: delivered"]
        assert t is not None
        [entry] = [h for h in t.history if h.action == "notified"]
        # Stamped with the time of delivery (the wall clock here), not the alarm's time.
        assert before <= entry.at <= after


def test_a_relay_that_refuses_is_retried_then_recorded_as_failed_without_blocking(store: TicketStore) -> None:
    inbox = Inbox(refuse="451 4.3.0 Mailbox temporarily unavailable")
    server = smtp_server(inbox)
    try:
        svc = service(store, {
            "smtp": {"host": "127.0.0.1", "port": server.port, "starttls": False, "from": "sitegate@hv.example"},
            "levels": {3: {"email": ["ops@hv.example"]}},
            "retry": {"max_attempts": 3, "backoff": 1, "backoff_max": 2},
        })
        started = time.monotonic()
        [t] = svc.handle([smoke("sd-1", T0)])
        # Ingest does not wait for the relay: its retries take at least 1 s + 2 s.
        assert time.monotonic() - started < 2
        assert t.emergency_level == 3 and notes(t, "notified") == []
        assert svc.emergency.flush(15)
        svc.close()
    finally:
        server.stop()
    assert inbox.rcpt_attempts == 3 and inbox.messages == []
    assert notes(svc.get("T-000001"), "notified") == [
        "level 3 -> email ops@hv.example: failed: SMTP 451 4.3.0 Mailbox temporarily unavailable (after 3 attempts)"]


def test_a_relay_that_is_down_is_recorded_as_failed_after_retries(store: TicketStore) -> None:
    svc = service(store, {
        "smtp": {"host": "127.0.0.1", "port": free_port(), "starttls": False, "from": "sitegate@hv.example"},
        "levels": {3: {"email": ["ops@hv.example"]}},
        "retry": FAST_RETRY,
    })
    svc.handle([smoke("sd-1", T0)])
    assert svc.emergency.flush(15)
    svc.close()
    [note] = notes(svc.get("T-000001"), "notified")
    assert note.startswith("level 3 -> email ops@hv.example: failed: ConnectionRefusedError")
    assert note.endswith("(after 3 attempts)")
    assert svc.emergency.stats.retries == 2 and svc.emergency.stats.failed == 1


def test_a_permanent_refusal_is_not_retried(store: TicketStore) -> None:
    inbox = Inbox(refuse="550 5.1.1 No such user")
    server = smtp_server(inbox)
    try:
        svc = service(store, {
            "smtp": {"host": "127.0.0.1", "port": server.port, "starttls": False, "from": "sitegate@hv.example"},
            "levels": {3: {"email": ["nobody@hv.example"]}}, "retry": FAST_RETRY,
        })
        svc.handle([smoke("sd-1", T0)])
        assert svc.emergency.flush(10)
        svc.close()
    finally:
        server.stop()
    assert inbox.rcpt_attempts == 1
    assert notes(svc.get("T-000001"), "notified") == [
        "level 3 -> email nobody@hv.example: failed: SMTP 550 5.1.1 No such user (after 1 attempt)"]


def test_mqtt_notice_published_on_the_levels_topic(store: TicketStore) -> None:
    pub = FakePublisher()
    svc = service(store, {"levels": {2: {"mqtt": ["sitegate/{site}/emergency/{level}"]}}, "retry": FAST_RETRY},
                  publisher=pub)
    svc.handle([smoke("sd-1", T0), smoke("sd-2", T0 + MIN)])  # one batch: straight to level 2
    assert svc.emergency.flush(10)
    svc.close()
    notices = [doc for topic, doc in pub.sent if topic == "sitegate/hv/emergency/2"]
    assert sorted(n["ticket_id"] for n in notices) == ["T-000001", "T-000002"]
    assert {(n["level"], n["level_name"], n["zone"]) for n in notices} == {(2, "二级", "b1")}
    assert notices[0]["reason"].startswith("emergency level 2 (二级): 两个烟感相继报警")
    assert notes(svc.get("T-000001"), "notified") == ["level 2 -> mqtt sitegate/hv/emergency/2: delivered"]
    # The history entry is itself a ticket change, published like any other.
    last = [doc for topic, doc in pub.sent if topic == "sitegate/hv/tickets/T-000001"][-1]
    assert last["history"][-1]["action"] == "notified"


def test_webhook_notice_with_its_own_retries(store: TicketStore) -> None:
    calls: list[dict[str, Any]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        calls.append(orjson.loads(request.content))
        return httpx.Response(503 if len(calls) == 1 else 200)

    svc = service(store, {"levels": {3: {"webhooks": [
        {"url": "https://ops.example.com/emergency", "max_attempts": 3, "backoff": 0.05}]}}})
    svc.emergency._client_factory = lambda: httpx.Client(transport=httpx.MockTransport(receiver))
    svc.handle([smoke("sd-1", T0)])
    assert svc.emergency.flush(10)
    svc.close()
    assert len(calls) == 2 and calls[-1]["emergency"]["level"] == 3
    assert calls[-1]["emergency"]["ticket_id"] == "T-000001"
    assert notes(svc.get("T-000001"), "notified") == [
        "level 3 -> webhook https://ops.example.com/emergency: delivered"]


def test_a_replay_sets_levels_but_sends_nothing(store: TicketStore) -> None:
    pub = FakePublisher()
    svc = service(store, {"levels": {3: {"mqtt": ["alarm/{level}"]}}}, publisher=pub, notices=False)
    [t] = svc.handle([smoke("sd-1", T0)])
    svc.close()
    assert t.emergency_level == 3
    assert not any(topic.startswith("alarm/") for topic, _ in pub.sent)
    assert notes(svc.get("T-000001"), "notified") == []


def test_disabled_response_sets_no_level(store: TicketStore) -> None:
    svc = service(store, {"enabled": False}, notices=False)
    [t] = svc.handle([smoke("sd-1", T0)])
    svc.close()
    assert t.emergency_level is None


def test_a_guards_fire_card_next_to_a_detector_in_alarm_is_level_1_for_both(store: TicketStore) -> None:
    pub = FakePublisher()
    svc = service(store, {"levels": {1: {"mqtt": ["alarm/{level}"]}, 3: {"mqtt": ["alarm/{level}"]}},
                          "retry": FAST_RETRY}, publisher=pub)
    svc.handle([smoke("sd-1", T0)])
    card = AlertEvent(rule="patrol.observation.fire", device="cp-b1-lobby", zone="b1", state="firing",
                      severity="critical", title="巡逻发现 Patrol observation: 火情 fire", ts=T0 + 7 * MIN,
                      category="patrol", kind="checkpoint",
                      labels={"fault": "fire", "reported_by": "G017", "checkpoint": "cp-b1-lobby"})
    changed = svc.handle([card])
    assert sorted((t.id, t.emergency_level) for t in changed) == [("T-000001", 1), ("T-000002", 1)]
    assert notes(svc.get("T-000002"), "emergency_level") == [
        "emergency level 1 (一级): 巡逻报火且探测器报警 a guard's fire report and a detector: "
        "1 smoke detector in alarm (sd-1) and 1 fire report by G017 in zone b1"]
    assert svc.emergency.flush(10)
    svc.close()
    # The detector's ticket was told at level 3 and again at level 1; the card's ticket at level 1 only.
    told = sorted((doc["ticket_id"], doc["level"]) for topic, doc in pub.sent if topic.startswith("alarm/"))
    assert told == [("T-000001", 1), ("T-000001", 3), ("T-000002", 1)]
