"""Planned maintenance as a feature: the `maintenance:` section of the site file (its presence switches
it on; `maintenance: {}` runs the built-in schedules), the asset register's dates, the patrol plan's
checkpoints at assets. Attaches after tickets (it opens tickets) and patrol (it reads the plan)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.errors import Problem
from gateway.core.model import STAGE_ACT
from gateway.core.site import Site
from gateway.ingest.gateway import Gateway
from gateway.maintenance.assets import load_asset_dates, read_asset_dates
from gateway.maintenance.config import MaintenanceConfig
from gateway.maintenance.consumer import MaintenanceConsumer, TapPlaces
from gateway.maintenance.metrics import MaintenanceCollector
from gateway.maintenance.planner import Planner
from gateway.maintenance.service import MaintenanceService
from gateway.patrol.consumer import PatrolConsumer
from gateway.tickets.service import TicketService

if TYPE_CHECKING:
    from fastapi import APIRouter

ORDER = 50
SECTION = ("maintenance", MaintenanceConfig)
KEY = SECTION[0]


def attach(gw: Gateway, offline: bool) -> MaintenanceService | None:
    del offline  # the same in replay: schedules run on the replay's clock
    if not gw.site.has_section(KEY):
        return None
    config = gw.site.section(MaintenanceConfig)
    tickets: TicketService = gw.features["tickets"]
    patrol: PatrolConsumer | None = gw.features.get("patrol")
    plan = patrol.tracker.plan if patrol is not None else None
    checkpoints = {cp.device: cp.id for cp in (plan.checkpoints if plan else []) if cp.device}
    dates = load_asset_dates(gw.site.inventory) if gw.site.inventory else {}
    planner = Planner(config.effective(), gw.inventory, dates, tz=gw.tz, open_at=config.open_at)
    service = MaintenanceService(tickets, planner, inventory=gw.inventory, dates=dates, checkpoints=checkpoints,
                                 tz=gw.tz, expiry_warning=config.expiry_warning)
    gw.add_consumer(MaintenanceConsumer(service, TapPlaces(plan)), STAGE_ACT)
    gw.metrics.registry.register(MaintenanceCollector(lambda: service.counts(gw.clock.now())))
    return service


def router(service: MaintenanceService, gw: Gateway) -> APIRouter:
    from gateway.maintenance.api import make_router

    return make_router(service, gw.clock)


def check(site: Site) -> list[Problem]:
    problems: list[Problem] = []
    if site.inventory is not None and site.inventory.is_file():
        problems += read_asset_dates(site.inventory)[1]
    if not site.has_section(KEY) or site.patrol is None or not site.patrol.is_file():
        return problems
    from gateway.core.errors import ConfigError
    from gateway.patrol.model import load_plan

    try:
        known = {cp.id for cp in load_plan(site.patrol).checkpoints}
    except ConfigError:
        return problems  # the patrol feature reports its file
    for i, schedule in enumerate(site.section(MaintenanceConfig).schedules):
        if schedule.checkpoint and schedule.checkpoint not in known:
            problems.append(site.problem((KEY, "schedules", i, "checkpoint"), (
                f"maintenance.schedules.{i}.checkpoint: {schedule.checkpoint!r} is not a checkpoint of the "
                "patrol file; name one of its checkpoints or leave it out")))
    return problems
