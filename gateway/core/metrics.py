"""Prometheus metrics of one gateway instance (own registry, so tests can run several)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter("sitegate_messages_received", "Messages taken from the broker or a reader.",
                                registry=r)
        self.decoded = Counter("sitegate_readings_decoded", "Readings decoded from messages.", registry=r)
        self.rejected = Counter("sitegate_messages_rejected", "Messages or fields rejected, by reason.",
                                ["reason"], registry=r)
        self.ignored = Counter("sitegate_messages_ignored",
                               "Messages on topics a profile skips on purpose (bridge chatter, commands), by profile.",
                               ["profile"], registry=r)
        self.duplicates = Counter("sitegate_messages_redelivered",
                                  "QoS1 redeliveries recognised in the journal and not processed twice.",
                                  registry=r)
        self.tickets_opened = Counter("sitegate_tickets_opened", "Tickets opened.", registry=r)
        self.batch_seconds = Histogram("sitegate_ingest_batch_seconds", "Time to journal and process a batch.",
                                       buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5),
                                       registry=r)
        self.mqtt_connected = Gauge("sitegate_mqtt_connected", "1 while connected to the broker.", registry=r)
        self.pending = Gauge("sitegate_ingest_pending", "Messages received and not yet journaled.", registry=r)
        self.devices = Gauge("sitegate_devices", "Devices known to the registry.", registry=r)
        self.storage_errors = Counter("sitegate_storage_errors", "Failed commits of the state database.",
                                      registry=r)
        self.consumer_errors = Counter("sitegate_consumer_errors",
                                       "Batches (each retry) and ticks a consumer raised on, by consumer.",
                                       ["consumer"], registry=r)
        self.ts_backlog = Gauge("sitegate_timeseries_backlog", "Time-series points waiting to be written.",
                                registry=r)

    def bind_backlog(self, fn: Callable[[], float]) -> None:
        self.ts_backlog.set_function(fn)

    def render(self) -> bytes:
        return generate_latest(self.registry)
