"""Tickets: alert events become maintenance tickets with an owner and a deadline, followed to the end.

    store = TicketStore("sqlite:///data/tickets.db")
    service = TicketService(store, site_id="harbor-view", tz=ZoneInfo("Asia/Shanghai"),
                            policy=TicketPolicy(), publisher=publisher)
    service.handle(alert_events)          # from the rules engine, per batch
    service.tick(clock.now())             # every few seconds: escalation, overdue revisits
    app.include_router(make_router(service, clock))

See docs/tickets.md for the `tickets:` section of the site file.
"""

from gateway.tickets.api import make_router
from gateway.tickets.lifecycle import IllegalTransition, UnknownAction
from gateway.tickets.policy import TicketPolicy, WebhookConfig
from gateway.tickets.service import TicketConflict, TicketNotFound, TicketService
from gateway.tickets.store import TicketStore
from gateway.tickets.ticket import HistoryEntry, Ticket

__all__ = [
    "HistoryEntry",
    "IllegalTransition",
    "Ticket",
    "TicketConflict",
    "TicketNotFound",
    "TicketPolicy",
    "TicketService",
    "TicketStore",
    "UnknownAction",
    "WebhookConfig",
    "make_router",
]
