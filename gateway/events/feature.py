"""Head-office events as a feature: owns the `events:` section (on by default). Attaches after every
feature whose conclusions it forwards (tickets 20, patrol 40, reports 90). Off in replay and without
a broker: those must never reach the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.core.model import STAGE_RECORD
from gateway.events.build import DeviceState, Site
from gateway.events.config import EventsConfig
from gateway.events.metrics import EventsCollector
from gateway.events.outbox import Outbox
from gateway.events.sender import Sender
from gateway.events.watch import EventWatch
from gateway.ingest.broker import Broker
from gateway.ingest.gateway import Gateway
from gateway.reports.month import Month
from gateway.reports.source import ReportSource
from gateway.tickets.service import TicketService

ORDER = 95
SECTION = ("events", EventsConfig)


@dataclass(frozen=True, slots=True)
class Events:
    outbox: Outbox
    sender: Sender
    watch: EventWatch


def attach(gw: Gateway, offline: bool) -> Events | None:
    config = gw.site.section(EventsConfig)
    if offline or gw.mqtt is None or not config.enabled:
        return None
    site = Site(gw.site_id, gw.site.site.name, gw.tz)
    outbox = Outbox(gw.data_dir / "events.db", keep_sent=config.keep_sent.total_seconds(),
                    max_unsent=config.max_unsent)
    sender = Sender(outbox, Broker.from_site(gw.site), client_id=f"{gw.mqtt.settings.client_id}-events",
                    window=config.window)
    tickets: TicketService | None = gw.features.get("tickets")
    reports: ReportSource | None = gw.features.get("reports")
    watch = EventWatch(site, outbox, clock=gw.clock, wake=sender.wake, states=lambda now: device_states(gw, now),
                       view=gw.registry.view,
                       health=gw.health, figures=lambda now: health_figures(gw, tickets, reports, now),
                       health_every=config.health_interval, device_every=config.device_interval,
                       background=True)
    gw.bus.listen(watch.on_bus, kinds=("ticket", "round", "device"))
    gw.add_consumer(watch, STAGE_RECORD)
    gw.metrics.registry.register(EventsCollector(outbox.counts, lambda: sender.published, lambda: outbox.dropped))

    def start() -> None:
        if tickets is not None:
            now = gw.clock.now()
            watch.catch_up([t.to_json() for t in tickets.touching(now - config.keep_sent, now + config.keep_sent)])
        sender.start()

    def stop() -> None:
        watch.close()
        sender.stop()
        outbox.close()

    gw.on_start.append(start)
    gw.on_stop.append(stop)
    gw.status_sources["events"] = lambda: "ok" if sender.connected.is_set() else "disconnected"
    return Events(outbox, sender, watch)


def device_states(gw: Gateway, now: datetime) -> list[tuple[str, DeviceState | None]]:
    """What head office follows of every device, from its health alone (EventWatch.check_devices)."""
    return [(h.info.id, DeviceState.of_parts(h.online, h.health.band)) for h in gw.registry.healths(now)]


def health_figures(gw: Gateway, tickets: TicketService | None, reports: ReportSource | None,
                   now: datetime) -> dict[str, Any]:
    """What head office ranks sites by, beside the health body."""
    counts = tickets.severity_counts() if tickets is not None else {}
    states = gw.registry.states()  # counts only: no view of every device
    return {
        "open_tickets": sum(n for n, _ in counts.values()),
        "overdue_tickets": sum(late for _, late in counts.values()),
        "critical_tickets": counts.get("critical", (0, 0))[0],
        "devices_total": len(states),
        "devices_offline": sum(1 for s in states if s.online is False),
        "timeliness_month": timeliness(reports.monthly(Month.of(now, gw.tz), now)) if reports is not None else None,
    }


def timeliness(report: dict[str, Any]) -> float | None:
    """The month's stages judged on time over all judged (the 95% target), None when none were."""
    on_time = sum(int(s["on_time"]) for s in report["stages"].values())
    judged = on_time + sum(int(s["late"]) for s in report["stages"].values())
    return on_time / judged if judged else None
