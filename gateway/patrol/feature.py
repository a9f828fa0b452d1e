"""Patrol as a feature: taps judged against the routes' timetables, an ack to the reader at once,
missed checkpoints raised as alerts, round figures as points. `patrol:` (the patrol file) is a fixed
key of the site file; without it the feature stays out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.errors import Problem
from gateway.core.model import STAGE_ANSWER
from gateway.core.site import Site
from gateway.ingest.gateway import Gateway
from gateway.patrol.archive import RoundArchive
from gateway.patrol.consumer import PatrolConsumer
from gateway.patrol.metrics import PatrolCollector
from gateway.patrol.model import load_plan
from gateway.patrol.tracker import PatrolTracker

if TYPE_CHECKING:
    from fastapi import APIRouter

ORDER = 40
SECTION = None


def attach(gw: Gateway, offline: bool) -> PatrolConsumer | None:
    if gw.site.patrol is None:
        return None
    plan = load_plan(gw.site.patrol)
    tracker = PatrolTracker(plan, tz=gw.tz, site_id=gw.site_id, max_skew=gw.site.ingest.max_clock_skew)
    archive = RoundArchive(gw.records_dir / "patrol_rounds.db", plan)
    patrol = PatrolConsumer(tracker, site_id=gw.site_id, publisher=gw.mqtt, alerts=gw.raise_alerts,
                            points=gw.write_points, events=gw.bus.publish, archive=archive)
    gw.on_stop.append(archive.close)
    gw.add_consumer(patrol, STAGE_ANSWER)
    gw.metrics.registry.register(PatrolCollector(patrol.in_progress, patrol.missed, patrol.recovered))
    return patrol


def router(patrol: PatrolConsumer, gw: Gateway) -> APIRouter:
    from gateway.patrol.api import patrol_router

    return patrol_router(patrol.rounds, plan=patrol.tracker.plan, site_id=gw.site_id, tz=gw.tz, clock=gw.clock)


def check(site: Site) -> list[Problem]:
    if site.patrol is None or not site.patrol.is_file():
        return []  # a missing file is reported at its key
    load_plan(site.patrol)  # raises ConfigError with every problem
    return []
