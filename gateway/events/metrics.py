"""`sitegate_events_outbox{state}` (unsent, sent) and `sitegate_events_published_total` in /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class EventsCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]], published: Callable[[], int],
                 dropped: Callable[[], int]) -> None:
        self.counts, self.published, self.dropped = counts, published, dropped

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        outbox = GaugeMetricFamily("sitegate_events_outbox",
                                   "Head-office events in the outbox: unsent (waiting for the broker's PUBACK) "
                                   "and sent (kept for a while).", labels=["state"])
        for state, n in self.counts().items():
            outbox.add_metric([state], n)
        yield outbox
        yield CounterMetricFamily("sitegate_events_published", "Events the site broker acknowledged (PUBACK).",
                                  value=self.published())
        yield CounterMetricFamily("sitegate_events_dropped",
                                  "Unsent health events dropped to keep the outbox under events.max_unsent.",
                                  value=self.dropped())
