"""TicketService.tick remembers the earliest deadline in the store: a tick before it runs no query, a
tick at it escalates exactly then, and a write of this service's own that sets an earlier deadline
(a new ticket) brings it forward at once; another gateway's writes are seen within DEADLINE_RECHECK
real seconds, whatever the site clock does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import DEADLINE_RECHECK, TicketService
from gateway.tickets.store import TicketStore
from tests.test_tickets_service import MIN, T0, TZ, H, ev


class Clock:
    """A monotonic clock that moves only when told (real seconds, for DEADLINE_RECHECK)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TicketStore]:
    s = TicketStore(f"sqlite:///{tmp_path}/tickets.db")
    yield s
    s.close()


def statements(store: TicketStore) -> list[str]:
    """Every SQL statement run on `store` from now on."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", note)
    return seen


def service(store: TicketStore, clock: Clock) -> TicketService:
    return TicketService(store, site_id="hv", tz=TZ, policy=TicketPolicy(), monotonic=clock)


def test_ticks_before_the_deadline_query_nothing_and_the_one_at_it_escalates(store: TicketStore) -> None:
    clock = Clock()
    svc = service(store, clock)
    [t] = svc.handle([ev(severity="critical")])  # critical: respond within 1 h, so due at 22:00
    assert t.due_at == T0 + H
    assert svc.tick(T0) == []  # reads the earliest deadline
    sql = statements(store)
    for minute in range(1, 60):
        assert svc.tick(T0 + minute * MIN) == []
    assert sql == []  # 59 ticks between deadlines: not one query
    [t] = svc.tick(T0 + H)
    assert (t.escalation_level, t.overdue) == (1, True)
    assert sql  # at the deadline it looked


def test_a_new_ticket_with_an_earlier_deadline_brings_the_remembered_one_forward(store: TicketStore) -> None:
    clock = Clock()
    svc = service(store, clock)
    [minor] = svc.handle([ev(severity="minor")])  # respond within 24 h
    assert svc.tick(T0 + MIN) == []  # remembers T0 + 24 h
    [critical] = svc.handle([ev(device="ext-b1-02", severity="critical", at=T0 + 10 * MIN)])
    assert critical.due_at == T0 + 70 * MIN < minor.due_at
    sql = statements(store)
    assert svc.tick(T0 + 69 * MIN) == []
    assert sql == []
    [t] = svc.tick(T0 + 70 * MIN)  # no real time passed: the write itself moved the deadline forward
    assert (t.id, t.escalation_level) == (critical.id, 1)


def test_a_deadline_that_passes_on_a_fast_site_clock_is_not_read_again_without_a_write(
        store: TicketStore) -> None:
    clock = Clock()
    svc = service(store, clock)
    svc.handle([ev(severity="minor")])
    assert svc.tick(T0 + MIN) == []
    sql = statements(store)
    # Hours of site time in no real time (replay, a fake clock): the remembered deadline holds.
    for hour in range(1, 24):
        assert svc.tick(T0 + hour * H) == []
    assert sql == []
    [t] = svc.tick(T0 + 24 * H)
    assert t.escalation_level == 1


def test_another_gateways_ticket_is_seen_within_the_recheck(store: TicketStore) -> None:
    clock = Clock()
    ours, theirs = service(store, clock), service(store, clock)
    assert ours.tick(T0) == []  # nothing pending
    [t] = theirs.handle([ev(severity="critical")])  # due at T0 + 1 h, written by the other gateway
    assert ours.tick(T0 + H) == []  # ours cannot know yet
    clock.now += DEADLINE_RECHECK
    [seen] = ours.tick(T0 + H + MIN)
    assert (seen.id, seen.escalation_level) == (t.id, 1)
