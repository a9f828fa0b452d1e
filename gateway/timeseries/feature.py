"""Time series as a feature: readings, equipment health and the others' points to the configured
sinks (the embedded store, InfluxDB with its spool). `timeseries:` is a fixed key of the site file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.core.model import STAGE_RECORD
from gateway.ingest.gateway import Gateway
from gateway.timeseries.consumer import TimeSeriesConsumer
from gateway.timeseries.embedded import EmbeddedStore
from gateway.timeseries.influx import InfluxSink, resolve_token
from gateway.timeseries.writer import Sink, TimeSeriesWriter

if TYPE_CHECKING:
    from fastapi import APIRouter

ORDER = 10  # first: the others write their points through it
SECTION = None


@dataclass
class TimeSeries:
    writer: TimeSeriesWriter
    consumer: TimeSeriesConsumer
    store: EmbeddedStore | None
    sinks: list[Sink]


def sinks_for(gw: Gateway, *, offline: bool) -> tuple[list[Sink], EmbeddedStore | None]:
    """The sinks the site asks for; `offline` (replay) never reaches InfluxDB."""
    ts = gw.site.timeseries
    sinks: list[Sink] = []
    store = None
    if ts.embedded:
        store = EmbeddedStore(gw.data_dir / "timeseries.db", clock=gw.clock)
        sinks.append(store)
    if ts.influxdb is not None and not offline:
        ix = ts.influxdb
        token = resolve_token(token_env=ix.token_env, token_file=ix.token_file)
        sinks.append(InfluxSink(url=ix.url, org=ix.org, bucket=ix.bucket, token=token,
                                spool_dir=gw.data_dir / "influx-spool"))
    return sinks, store


def attach(gw: Gateway, offline: bool) -> TimeSeries:
    sinks, store = sinks_for(gw, offline=offline)
    writer = TimeSeriesWriter(sinks)
    gw.metrics.bind_backlog(lambda: float(sum(s.backlog() for s in sinks)))
    consumer = TimeSeriesConsumer(writer, site_id=gw.site_id, registry=gw.registry,
                                  open_tickets=lambda device: gw.registry.open_tickets(device))
    gw.write_points = consumer.write
    if sinks:  # with nowhere to write (replay, the oracle) turning readings into points is waste
        gw.add_consumer(consumer, STAGE_RECORD)
    gw.status_sources["timeseries"] = lambda: _worst([s.status() for s in sinks])
    gw.on_start.append(writer.start)
    gw.on_stop.append(writer.close)
    return TimeSeries(writer, consumer, store, sinks)


def router(ts: TimeSeries, gw: Gateway) -> APIRouter | None:
    from gateway.timeseries.api import make_router

    return make_router(ts.store, clock=gw.clock) if ts.store is not None else None


def _worst(states: list[str]) -> str:
    for state in ("down", "buffering"):
        if state in states:
            return state
    return "ok"
