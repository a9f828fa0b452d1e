"""`sitegate_maintenance_items{state="due"|"overdue"|"expired"|"expiring"}` in /metrics, counted at scrape
time from the ticket store and the asset register (no gauge to keep in step)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

NAME = "sitegate_maintenance_items"
HELP = "Planned work open and not yet due, overdue, and equipment expired or expiring, by state."


class MaintenanceCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(NAME, HELP, labels=["state"])  # registration must not query the store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(NAME, HELP, labels=["state"])
        for state, n in self.counts().items():
            family.add_metric([state], n)
        yield family
