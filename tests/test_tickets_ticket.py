from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.tickets.ticket import HistoryEntry, Ticket, localize, ticket_id, ticket_seq

TZ = ZoneInfo("Asia/Shanghai")


def test_ids_are_short_readable_and_round_trip() -> None:
    assert ticket_id(123) == "T-000123" and ticket_id(1234567) == "T-1234567"
    assert ticket_seq("T-000123") == 123
    assert ticket_seq("T-") is None and ticket_seq("X-1") is None and ticket_seq("T-12a") is None


def test_localize_shows_every_time_in_site_time() -> None:
    utc = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    t = Ticket(site="hv", rule="r", device_id="d", zone="z", severity="minor", status="open", title="t",
               opened_at=utc, due_at=utc, dedup_key="r:d",
               history=[HistoryEntry(at=utc, actor="system", action="opened", to_status="open")])
    doc = localize(t, TZ).to_json()
    assert doc["opened_at"] == doc["due_at"] == doc["history"][0]["at"] == "2026-11-23T21:00:00+08:00"
    assert doc["resolved_at"] is None
    assert t.opened_at.tzinfo is UTC  # the original is unchanged
