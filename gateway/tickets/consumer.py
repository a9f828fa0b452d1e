"""Tickets in the running gateway: the timer (escalation, revisits), and what every change feeds
besides MQTT: live events, `ticket_event` points and the Prometheus counter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from gateway.core.metrics import Metrics
from gateway.core.model import EventSink, Processed
from gateway.tickets.service import TicketService
from gateway.timeseries.point import Point

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

    def __call__(self, kind: str, doc: dict[str, Any]) -> None:
        change = str(doc.get("change", ""))
        if change == "opened":
            self.metrics.tickets_opened.inc()
        if change in RECORDED:
            self.points([ticket_point(self.site_id, doc, change)])
        if self.bus is not None:
            self.bus(kind, doc)


class TicketTimer:
    """Runs escalation and revisit checks on the pipeline's tick; tickets keep their own store."""

    name = "tickets"

    def __init__(self, service: TicketService) -> None:
        self.service = service

    def handle(self, batch: Sequence[Processed]) -> None:
        del batch  # tickets arrive as alerts from the rules and patrol consumers

    def tick(self, now: datetime) -> None:
        self.service.tick(now)

    def snapshot(self) -> Any:
        return None  # the ticket store is durable by itself

    def restore(self, state: Any) -> None:
        del state
