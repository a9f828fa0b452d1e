"""Attach the features to a gateway: rules -> tickets, patrol -> acks and tickets, time series.

Order matters for the consumers: rules and patrol first (they raise alerts the ticket service turns
into tickets), the ticket timer next, time series last (it records what the others produced).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from gateway.model import AlertEvent
from gateway.paths import rules_dir
from gateway.patrol.api import patrol_router
from gateway.patrol.consumer import PatrolConsumer
from gateway.patrol.model import load_plan
from gateway.patrol.tracker import PatrolTracker
from gateway.rules.consumer import RulesConsumer
from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.loader import load_rules
from gateway.rules.reload import RuleReloader
from gateway.service import Gateway
from gateway.tickets.api import make_router as ticket_router
from gateway.tickets.consumer import TicketEvents, TicketTimer
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore
from gateway.timeseries.api import make_router as series_router
from gateway.timeseries.consumer import TimeSeriesConsumer
from gateway.timeseries.embedded import EmbeddedStore
from gateway.timeseries.influx import InfluxSink, resolve_token
from gateway.timeseries.writer import Sink, TimeSeriesWriter

log = logging.getLogger("sitegate")


@dataclass
class Features:
    writer: TimeSeriesWriter
    tickets: TicketService
    rules: RulesConsumer
    reloader: RuleReloader
    patrol: PatrolConsumer | None = None
    store: EmbeddedStore | None = None
    sinks: list[Sink] = field(default_factory=list)


class OpenTicketCounts:
    """Per-device open ticket counts for health scores, re-read at most every `ttl` seconds."""

    def __init__(self, service: TicketService, ttl: float = 2.0) -> None:
        self.service = service
        self.ttl = ttl
        self._at = 0.0
        self._counts: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, device: str) -> Mapping[str, int]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl:
                self._counts = self.service.open_counts()
                self._at = time.monotonic()
            return self._counts.get(device, {})


def rule_paths(gw: Gateway) -> list[Path]:
    site = gw.site
    return [*([rules_dir()] if site.builtin_rules else []), *site.rules]


def tickets_url(gw: Gateway) -> str:
    return f"sqlite:///{gw.data_dir / 'tickets.db'}"


def time_series_sinks(gw: Gateway, *, offline: bool = False) -> tuple[list[Sink], EmbeddedStore | None]:
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


def attach_features(gw: Gateway, *, offline: bool = False) -> Features:
    """`offline` (replay): no webhooks, no InfluxDB, no reload thread; the same logic otherwise."""
    site = gw.site
    sinks, store = time_series_sinks(gw, offline=offline)
    writer = TimeSeriesWriter(sinks)
    gw.metrics.bind_backlog(lambda: float(sum(s.backlog() for s in sinks)))
    ts = TimeSeriesConsumer(writer, site_id=gw.site_id, registry=gw.registry)

    policy = site.section(TicketPolicy)
    tickets = TicketService(TicketStore(tickets_url(gw)), site_id=gw.site_id, tz=gw.tz, policy=policy,
                            publisher=gw.mqtt,
                            events=TicketEvents(gw.site_id, bus=gw.bus.publish, points=ts.write,
                                                metrics=gw.metrics),
                            webhooks=() if offline else policy.webhooks)
    counts = OpenTicketCounts(tickets)
    gw.registry.open_tickets = counts
    ts.open_tickets = counts

    def raise_alerts(events: Sequence[AlertEvent]) -> None:
        tickets.handle(events)

    paths = rule_paths(gw)
    engine = RuleEngine(load_rules(paths), site=SiteContext(
        tz=gw.tz, latitude=site.site.latitude or 0.0, longitude=site.site.longitude or 0.0,
        heartbeat=dict(site.devices.heartbeat)))
    rules = RulesConsumer(engine, alerts=raise_alerts, devices=gw.registry.infos)
    reloader = RuleReloader(paths, rules.replace_rules)
    features = Features(writer=writer, tickets=tickets, rules=rules, reloader=reloader, store=store,
                        sinks=sinks)

    gw.add_consumer(rules)
    if site.patrol is not None:
        plan = load_plan(site.patrol)
        tracker = PatrolTracker(plan, tz=gw.tz, site_id=gw.site_id, max_skew=site.ingest.max_clock_skew)
        patrol = PatrolConsumer(tracker, site_id=gw.site_id, publisher=gw.mqtt, alerts=raise_alerts,
                                points=ts.write, events=gw.bus.publish)
        gw.add_consumer(patrol, router=patrol_router(patrol.rounds, plan=plan, site_id=gw.site_id, tz=gw.tz,
                                                      clock=gw.clock))
        features.patrol = patrol
    gw.add_consumer(TicketTimer(tickets), router=ticket_router(tickets, gw.clock))
    gw.add_consumer(ts, router=series_router(store, clock=gw.clock) if store is not None else None)

    gw.status_sources["timeseries"] = lambda: _worst([s.status() for s in sinks])
    gw.status_sources["rules"] = lambda: reloader.status
    if not offline:
        gw.on_start.append(reloader.start)
    gw.on_stop.extend([reloader.stop, writer.close, tickets.close])
    return features


def _worst(states: list[str]) -> str:
    for state in ("down", "buffering"):
        if state in states:
            return state
    return "ok"


Closer = Callable[[], None]
HEALTH_EVERY = timedelta(minutes=1)
