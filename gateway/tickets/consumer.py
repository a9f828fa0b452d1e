"""Tickets in the running gateway: the alert inbox, the pipeline consumer (held alerts, escalation,
revisits), and what every change feeds besides MQTT: live events, `ticket_event` points and the
Prometheus counter."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from gateway.core.metrics import Metrics
from gateway.core.model import AlertEvent, EventSink, Processed
from gateway.tickets.service import TicketService
from gateway.timeseries.point import Point

log = logging.getLogger(__name__)

# History actions worth a point in the `ticket_event` measurement (not every repeat occurrence).
RECORDED = {"opened", "acknowledged", "resolved", "closed", "reopened", "cancelled", "escalated"}


def _seconds(later: str | None, earlier: str | None) -> float | None:
    if not later or not earlier:
        return None
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def ticket_point(site_id: str, doc: dict[str, Any], change: str) -> Point:
    fields: dict[str, float | int | bool | str] = {"ticket_id": doc["id"]}
    response = _seconds(doc.get("acknowledged_at"), doc.get("opened_at"))
    resolve = _seconds(doc.get("resolved_at"), doc.get("opened_at"))
    if response is not None:
        fields["response_s"] = response
    if resolve is not None:
        fields["resolve_s"] = resolve
    last = doc["history"][-1]["at"] if doc.get("history") else doc["opened_at"]
    tags = {"site": site_id, "rule": doc["rule"], "severity": doc["severity"], "zone": doc["zone"],
            "event": change}
    return Point("ticket_event", tags, fields, datetime.fromisoformat(last))


class TicketEvents:
    """The ticket service's event sink: fan a change out to the bus, the time series and metrics."""

    def __init__(self, site_id: str, *, bus: EventSink | None, points: Callable[[Sequence[Point]], None],
                 metrics: Metrics) -> None:
        self.site_id = site_id
        self.bus = bus
        self.points = points
        self.metrics = metrics
        # Told of every change first, so a dashboard that reloads on the live event sees new counts.
        self.counts_changed: Callable[[], None] = lambda: None

    def __call__(self, kind: str, doc: dict[str, Any]) -> None:
        self.counts_changed()
        change = str(doc.get("change", ""))
        if change == "opened":
            self.metrics.tickets_opened.inc()
        if change in RECORDED:
            self.points([ticket_point(self.site_id, doc, change)])
        if self.bus is not None:
            self.bus(kind, doc)


class AlertInbox:
    """Where rules and patrol hand their alerts (a gateway alert sink). An alert reaches the ticket
    service at once; while the ticket store fails it waits here, and the tickets consumer raises on
    every batch and tick until it is stored. So the failure is the tickets consumer's (the pipeline
    holds intake and health names it), and the consumers that raised the alerts never take a batch
    twice. Only the pipeline thread (and start-up replay) hands alerts in."""

    def __init__(self, service: TicketService) -> None:
        self.service = service
        self._held: list[AlertEvent] = []
        self._lock = threading.Lock()

    def held(self) -> list[dict[str, Any]]:
        """The alerts still waiting for the store, as JSON (for the consumer's snapshot)."""
        with self._lock:
            return [{**asdict(ev), "ts": ev.ts.isoformat()} for ev in self._held]

    def hold(self, docs: Sequence[dict[str, Any]]) -> None:
        """Take back alerts from `held()` of an earlier run, ahead of anything new."""
        restored = [AlertEvent(**{**doc, "ts": datetime.fromisoformat(doc["ts"])}) for doc in docs]
        with self._lock:
            self._held[:0] = restored

    def put(self, events: Sequence[AlertEvent]) -> None:
        """Take alerts; never raises (they are held when the store refuses them)."""
        with self._lock:
            self._held.extend(events)
        try:
            self.deliver()
        except Exception as exc:
            log.warning("The ticket store refused %d alert(s) (%s); they are held and retried.",
                        len(self._held), exc)

    def deliver(self) -> None:
        """Store the held alerts in one transaction; raises (and keeps them) when the store fails."""
        with self._lock:
            if self._held:
                self.service.handle(self._held)
                self._held = []


class TicketTimer:
    """The tickets consumer: stores held alerts first, then runs escalation and revisit checks on the
    pipeline's tick. Tickets keep their own store; the snapshot holds the alerts still waiting for
    it, stored with the other consumers' snapshots (the rules' state that raised them) in one
    transaction, so a restart neither loses nor repeats them."""

    name = "tickets"

    def __init__(self, service: TicketService, inbox: AlertInbox) -> None:
        self.service = service
        self.inbox = inbox

    def handle(self, batch: Sequence[Processed]) -> None:
        del batch  # tickets arrive as alerts from the rules and patrol consumers, through the inbox
        self.inbox.deliver()

    def tick(self, now: datetime) -> None:
        self.inbox.deliver()
        self.service.tick(now)

    def snapshot(self) -> Any:
        return {"held": self.inbox.held()}

    def restore(self, state: Any) -> None:
        if state:  # None from a gateway that held no alerts in its snapshots
            self.inbox.hold(state["held"])
