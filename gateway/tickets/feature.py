"""Tickets as a feature: the alerts that rules and patrol raise become tickets with an owner and a
deadline; the ticket timer escalates them. Owns the `tickets:` section of the site file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.model import STAGE_ACT
from gateway.ingest.gateway import Gateway
from gateway.tickets.consumer import AlertInbox, TicketEvents, TicketTimer
from gateway.tickets.counts import OpenTicketCounts
from gateway.tickets.metrics import TicketCollector
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore

if TYPE_CHECKING:
    from fastapi import APIRouter

ORDER = 20  # after time series (its events are points), before the features that raise alerts
SECTION = ("tickets", TicketPolicy)


def store_url(gw: Gateway) -> str:
    return f"sqlite:///{gw.records_dir / 'tickets.db'}"


def attach(gw: Gateway, offline: bool) -> TicketService:
    """`offline` (replay): no webhooks nor emergency notices, so a replay never reaches the outside world."""
    policy = gw.site.section(TicketPolicy)
    events = TicketEvents(gw.site_id, bus=gw.bus.publish, points=gw.write_points, metrics=gw.metrics)
    tickets = TicketService(TicketStore(store_url(gw)), site_id=gw.site_id, tz=gw.tz, policy=policy,
                            publisher=gw.mqtt, events=events, webhooks=() if offline else policy.webhooks,
                            emergency_notices=not offline, now=gw.clock.now)
    # Re-read on each change this gateway makes, so the counts keep to its clock (replay, fake
    # clocks); by time only for changes made elsewhere, which a replay's private store never sees.
    counts = OpenTicketCounts(tickets.open_counts, ttl=None if offline else 2.0, commits=lambda: tickets.commits)
    events.counts_changed = counts.changed
    gw.registry.open_tickets = counts
    inbox = AlertInbox(tickets)
    gw.alert_sinks.append(inbox.put)
    gw.add_consumer(TicketTimer(tickets, inbox), STAGE_ACT)
    gw.metrics.registry.register(TicketCollector(tickets.severity_counts))
    gw.on_start.append(tickets.start)
    gw.on_stop.append(tickets.close)
    return tickets


def router(tickets: TicketService, gw: Gateway) -> APIRouter:
    from gateway.tickets.api import make_router

    return make_router(tickets, gw.clock)
