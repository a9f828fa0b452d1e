"""Prometheus metrics of one head-office replica (own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class FleetMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter("sitegate_hq_events_received", "Messages taken from the head-office broker.",
                                registry=r)
        self.stored = Counter("sitegate_hq_events_stored", "Events stored for the first time.", registry=r)
        self.duplicates = Counter("sitegate_hq_events_duplicates",
                                  "Events already stored (a redelivery or a site that sent one twice).", registry=r)
        self.rejected = Counter("sitegate_hq_events_rejected", "Messages that are not v1 events, by reason "
                                "(kept as dead letters).", ["reason"], registry=r)
        self.storage_errors = Counter("sitegate_hq_storage_errors", "Failed commits (the batch is retried).",
                                      registry=r)
        self.pending = Gauge("sitegate_hq_ingest_pending", "Messages received and not yet committed.", registry=r)
        self.mqtt_connected = Gauge("sitegate_hq_mqtt_connected", "1 while connected to the broker.", registry=r)
        self.batch_seconds = Histogram("sitegate_hq_batch_seconds", "Time to store one batch.",
                                       buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5), registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
