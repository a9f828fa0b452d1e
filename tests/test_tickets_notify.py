from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from gateway.core.model import AlertEvent
from gateway.tickets.changes import Change, Details, open_ticket
from gateway.tickets.notify import Notifier
from gateway.tickets.policy import TicketPolicy, WebhookConfig
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore
from tests.test_tickets_service import FakePublisher

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)


class Receiver:
    """A real HTTP server that answers the first `fail` requests with `status`, then 200."""

    def __init__(self, fail: int = 0, status: int = 503, retry_after: str | None = None) -> None:
        self.fail, self.status, self.retry_after = fail, status, retry_after
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.done = threading.Event()  # set on the first 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append((dict(self.headers), body))
                if len(receiver.requests) <= receiver.fail:
                    self.send_response(receiver.status)
                    if receiver.retry_after:
                        self.send_header("Retry-After", receiver.retry_after)
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()
                receiver.done.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=2)
    yield r
    r.close()


def hook(url: str, **kw: Any) -> WebhookConfig:
    return WebhookConfig.model_validate({"url": url, "backoff": 0.01, "backoff_max": 0.05, **kw})


def change(action: str = "opened", revision: int = 1) -> Change:
    ev = AlertEvent(rule="fire.smoke", device="smoke-1", zone="b1", state="firing", severity="critical",
                    title="烟感报警 Smoke", ts=T0)
    t = open_ticket(ev, site="hv", policy=TicketPolicy(), tz=TZ)
    t.seq, t.revision = 12, revision
    return Change(t, action)


def test_webhook_is_retried_with_the_same_idempotency_key_until_it_succeeds(receiver: Receiver) -> None:
    n = Notifier(site="hv", tz=TZ, webhooks=[hook(receiver.url, headers={"X-Site": "hv"})])
    n.start()
    try:
        n.notify(change())
        assert receiver.done.wait(10), "the third attempt should have succeeded"
        assert n.flush(10)
    finally:
        n.close()
    assert len(receiver.requests) == 3
    keys = {headers["Idempotency-Key"] for headers, _ in receiver.requests}
    assert keys == {"hv:T-000012:1"}
    headers, body = receiver.requests[-1]
    assert headers["X-Site"] == "hv" and headers["Content-Type"] == "application/json"
    assert body["change"] == "opened" and body["ticket"]["id"] == "T-000012" and body["site"] == "hv"
    assert body["ticket"]["opened_at"] == "2026-11-23T21:00:00+08:00"
    assert (n.stats.delivered, n.stats.retries, n.stats.failed) == (1, 2, 0)


def test_webhook_gives_up_after_max_attempts_and_does_not_retry_client_errors() -> None:
    down, refused = Receiver(fail=100), Receiver(fail=100, status=400)
    n = Notifier(site="hv", tz=TZ, webhooks=[hook(down.url, max_attempts=3), hook(refused.url)])
    n.start()
    try:
        n.notify(change())
        assert n.flush(10)
    finally:
        n.close()
        down.close()
        refused.close()
    assert len(down.requests) == 3 and len(refused.requests) == 1
    assert n.stats.failed == 2 and n.stats.delivered == 0


def test_retry_after_is_honoured_but_capped(receiver: Receiver) -> None:
    receiver.retry_after = "3600"
    n = Notifier(site="hv", tz=TZ, webhooks=[hook(receiver.url)])
    n.start()
    try:
        n.notify(change())
        assert receiver.done.wait(10)  # capped at backoff_max (0.05 s), not an hour
    finally:
        n.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking_the_caller() -> None:
    gate = threading.Event()

    class Stuck:
        def __enter__(self) -> Stuck:
            gate.wait(10)  # the worker cannot start delivering until the test lets it
            return self

        def __exit__(self, *args: object) -> None:
            pass

        def post(self, *args: Any, **kw: Any) -> Any:
            raise AssertionError("not reached")

    n = Notifier(site="hv", tz=TZ, webhooks=[hook("http://127.0.0.1:9/x")], queue_size=2,
                 client_factory=Stuck)  # type: ignore[arg-type]
    n.start()
    for i in range(5):
        n.notify(change(revision=i + 1))
    assert n.stats.dropped == 3
    gate.set()
    n.close(timeout=1)


def test_actions_filter_and_occurrences_are_not_sent_by_default(receiver: Receiver) -> None:
    receiver.fail = 0
    n = Notifier(site="hv", tz=TZ, webhooks=[hook(receiver.url), hook(receiver.url, actions=["escalated"])])
    n.start()
    try:
        n.notify(change("occurrence", 2))
        n.notify(change("escalated", 3))
        assert n.flush(10)
    finally:
        n.close()
    assert [(h["Idempotency-Key"], b["change"]) for h, b in receiver.requests] == \
        [("hv:T-000012:3", "escalated")] * 2


def test_service_publishes_every_change_on_mqtt_and_webhook(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail = 0
    pub = FakePublisher()
    store = TicketStore(f"sqlite:///{tmp_path}/t.db")
    svc = TicketService(store, site_id="hv", tz=TZ, policy=TicketPolicy(), publisher=pub,
                        webhooks=[hook(receiver.url)])
    svc.start()
    try:
        ev = AlertEvent(rule="fire.smoke", device="smoke-1", zone="b1", state="firing", severity="critical",
                        title="Smoke", ts=T0)
        [t] = svc.handle([ev])
        svc.handle([ev])
        svc.act(t.id, "ack", actor="wang", now=T0)
        svc.tick(T0 + timedelta(minutes=30))  # before the 1 h arrive deadline: nothing to publish
        svc.act(t.id, "resolve", actor="wang", now=T0)
        svc.act(t.id, "revisit", actor="zhao", now=T0, details=Details(result="ok"))
        assert svc.notifier.flush(10)
    finally:
        svc.close()
        store.close()
    assert [topic for topic, _ in pub.sent] == [f"sitegate/hv/tickets/{t.id}"] * 5
    assert [doc["status"] for _, doc in pub.sent] == ["open", "open", "acknowledged", "resolved", "closed"]
    assert [doc["occurrences"] for _, doc in pub.sent] == [1, 2, 2, 2, 2]
    assert [b["change"] for _, b in receiver.requests] == ["opened", "acknowledged", "resolved", "revisited"]
    assert [h["Idempotency-Key"] for h, _ in receiver.requests] == [f"hv:{t.id}:{r}" for r in (1, 3, 4, 5)]
