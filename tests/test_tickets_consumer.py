"""The tickets feature in the pipeline: alerts held while the ticket store fails, and kept across a
restart in the consumer's snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from gateway.core.model import AlertEvent
from gateway.tickets.consumer import AlertInbox, TicketTimer
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore, Tx

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)
SMOKE = AlertEvent(rule="fire.smoke", device="smoke-1", zone="b2", state="firing", severity="critical",
                   title="烟感报警 Smoke alarm: smoke-1", ts=T0, value=True, kind="smoke_detector",
                   labels={"severity": "critical", "category": "fire", "fault": "smoke"})


class LockedStore(TicketStore):
    """A ticket store whose writes fail, as when another process holds the database locked."""

    @contextmanager
    def write(self) -> Iterator[Tx]:
        raise TimeoutError("tickets database is locked")
        yield  # pragma: no cover


def consumer(store: TicketStore) -> tuple[TicketService, AlertInbox, TicketTimer]:
    service = TicketService(store, site_id="hv", tz=TZ, policy=TicketPolicy())
    inbox = AlertInbox(service)
    return service, inbox, TicketTimer(service, inbox)


def test_an_alert_the_store_refuses_is_held_and_the_tickets_consumer_raises_until_it_is_stored(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tickets.db"
    _, inbox, timer = consumer(LockedStore(url))
    inbox.put([SMOKE])  # the rules consumer that raised it never sees the failure
    with pytest.raises(TimeoutError):
        timer.handle([])
    state = orjson.loads(orjson.dumps(timer.snapshot()))  # as the pipeline stores it
    # A restart, with the database writable again.
    service, _, timer = consumer(TicketStore(url))
    timer.restore(state)
    timer.handle([])
    timer.handle([])
    [ticket] = service.list()
    assert (ticket.rule, ticket.device_id, ticket.occurrences, ticket.opened_at) == ("fire.smoke", "smoke-1", 1, T0)
    assert ticket.labels["fault"] == "smoke" and ticket.dedup_key == "fault:smoke:smoke-1"
    assert timer.snapshot() == {"held": []}


def test_a_snapshot_from_before_alerts_were_held_restores_to_nothing_held(tmp_path: Path) -> None:
    service, _, timer = consumer(TicketStore(f"sqlite:///{tmp_path}/tickets.db"))
    timer.restore(None)
    timer.tick(T0)
    assert timer.snapshot() == {"held": []} and service.list() == []
