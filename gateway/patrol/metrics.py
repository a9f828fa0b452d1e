"""`sitegate_patrol_rounds_in_progress`, `sitegate_patrol_checkpoints_missed_total{route}` and
`sitegate_patrol_checkpoints_recovered_total{route}` (missed, then shown visited by a buffered tap) in
/metrics, read from the patrol consumer at scrape time. Counters only grow, as Prometheus expects."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

IN_PROGRESS = ("sitegate_patrol_rounds_in_progress", "Patrol rounds started and not yet ended.")
MISSED = ("sitegate_patrol_checkpoints_missed", "Checkpoints missed in rounds since the gateway started, by route.")
RECOVERED = ("sitegate_patrol_checkpoints_recovered", "Missed checkpoints that a buffered tap later showed were "
                                                      "visited, by route.")


class PatrolCollector(Collector):
    def __init__(self, in_progress: Callable[[], int], missed: Mapping[str, int],
                 recovered: Mapping[str, int]) -> None:
        self.in_progress, self.missed, self.recovered = in_progress, missed, recovered

    def describe(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily(*IN_PROGRESS)
        for name, text in (MISSED, RECOVERED):
            yield CounterMetricFamily(name, text, labels=["route"])

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily(*IN_PROGRESS, value=self.in_progress())
        for (name, text), counts in ((MISSED, self.missed), (RECOVERED, self.recovered)):
            family = CounterMetricFamily(name, text, labels=["route"])
            for route, n in sorted(dict(counts).items()):
                family.add_metric([route], n)
            yield family
