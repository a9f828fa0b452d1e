"""`sitegate_tickets_open{severity}` and `sitegate_tickets_overdue{severity}` in /metrics, counted at
scrape time from the ticket store (no gauge to keep in step), so a site's Prometheus can alert on an
overdue critical ticket. Every severity is listed, zeros included, so a rule never sees a gap."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.core.validation import SEVERITIES

OPEN = ("sitegate_tickets_open", "Active (open or acknowledged) tickets, by severity.")
OVERDUE = ("sitegate_tickets_overdue", "Active tickets with a stage past its deadline (as of the last deadline "
                                       "check), by severity.")


class TicketCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, tuple[int, int]]]) -> None:
        self.counts = counts

    def describe(self) -> Iterator[GaugeMetricFamily]:
        for name, text in (OPEN, OVERDUE):  # registration must not query the store
            yield GaugeMetricFamily(name, text, labels=["severity"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self.counts()
        active, overdue = (GaugeMetricFamily(name, text, labels=["severity"]) for name, text in (OPEN, OVERDUE))
        for severity in SEVERITIES:
            n, late = counts.get(severity, (0, 0))
            active.add_metric([severity], n)
            overdue.add_metric([severity], late)
        yield active
        yield overdue
