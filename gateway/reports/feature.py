"""Reports as a feature: reads what tickets and patrol keep, adds only HTTP routes. Without the
tickets feature there is nothing to report and it stays out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.ingest.gateway import Gateway
from gateway.reports.source import ReportSource

if TYPE_CHECKING:
    from fastapi import APIRouter

ORDER = 90  # after every feature whose data it reads (tickets 20, patrol 40)
SECTION = None


def attach(gw: Gateway, offline: bool) -> ReportSource | None:
    tickets = gw.features.get("tickets")
    if tickets is None:
        return None
    patrol = gw.features.get("patrol")
    return ReportSource(tickets=tickets, rounds=patrol.archive if patrol is not None else None,
                        tz=gw.tz, site=gw.site_id)


def router(source: ReportSource, gw: Gateway) -> APIRouter:
    from gateway.reports.api import reports_router

    return reports_router(source, gw.clock)
