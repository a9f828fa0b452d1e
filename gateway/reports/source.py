"""Loading a month's inputs: the tickets the report reads from the ticket service and the rounds
from the patrol archive. Thin: everything it returns goes to monthly.monthly_report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from gateway.patrol.archive import RoundArchive
from gateway.reports.month import Month
from gateway.reports.monthly import LOOKBACK, READ_AHEAD, monthly_report
from gateway.tickets.service import TicketService


@dataclass(frozen=True, slots=True)
class ReportSource:
    tickets: TicketService
    rounds: RoundArchive | None  # None: the site has no patrol plan
    tz: tzinfo
    site: str

    def monthly(self, month: Month, now: datetime) -> dict[str, Any]:
        start, end = month.start(self.tz), month.end(self.tz)
        found = self.tickets.touching(start - LOOKBACK, end + READ_AHEAD)
        rounds = self.rounds.between(start, end) if self.rounds is not None else []
        return monthly_report(found, rounds, month=month, tz=self.tz, now=now, policy=self.tickets.policy,
                              site=self.site)
