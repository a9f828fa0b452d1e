"""Rules as a feature: every reading and availability change through the rule engine; firing and
cleared alerts go to whoever listens (tickets), and the conditions that hold per device to the
registry (device health). Rule files reload live. `rules:` and `builtin_rules:` are fixed keys of
the site file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.core.errors import Problem
from gateway.core.model import STAGE_DETECT
from gateway.core.paths import rules_dir
from gateway.core.site import Site
from gateway.ingest.gateway import Gateway
from gateway.rules.consumer import RulesConsumer
from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.loader import check_rules, load_rules
from gateway.rules.reload import RuleReloader
from gateway.rules.schema import Rule
from gateway.rules.unregistered import UnregisteredWatch

if TYPE_CHECKING:
    from fastapi import APIRouter

ORDER = 30
SECTION = None


@dataclass
class Rules:
    consumer: RulesConsumer
    reloader: RuleReloader
    unregistered: UnregisteredWatch


def rule_paths(site: Site) -> list[Path]:
    """The built-in pack (unless `builtin_rules: false`), then the site's own rule files."""
    return [*([rules_dir()] if site.builtin_rules else []), *site.rules]


def attach(gw: Gateway, offline: bool) -> Rules:
    """`offline` (replay): the rule files are read once, no reload thread."""
    site = gw.site
    paths = rule_paths(site)
    rules = load_rules(paths)
    context = SiteContext(tz=gw.tz, latitude=site.site.latitude or 0.0, longitude=site.site.longitude or 0.0,
                          heartbeat=dict(site.devices.heartbeat))
    consumer = RulesConsumer(RuleEngine(rules, site=context), alerts=gw.raise_alerts, devices=gw.registry,
                             clock=gw.clock, conditions=gw.publish_conditions)
    unregistered = UnregisteredWatch(rules, site=context, alerts=gw.raise_alerts, lookalikes=gw.registry.lookalikes,
                                     lookalikes_version=lambda: gw.registry.lookalikes_version, clock=gw.clock)

    def replace_rules(new: Sequence[Rule]) -> None:
        consumer.replace_rules(new)
        unregistered.replace_rules(new)

    reloader = RuleReloader(paths, replace_rules)
    gw.add_consumer(consumer, STAGE_DETECT)
    gw.add_consumer(unregistered, STAGE_DETECT)
    gw.status_sources["rules"] = lambda: reloader.status
    if not offline:
        gw.on_start.append(reloader.start)
        gw.on_stop.append(reloader.stop)
    return Rules(consumer, reloader, unregistered)


def router(handle: Rules, gw: Gateway) -> APIRouter:
    from gateway.rules.api import rules_router

    return rules_router(handle.consumer.rules, gw)


def check(site: Site) -> list[Problem]:
    paths = [p for p in rule_paths(site) if p.exists()]  # a missing one is reported at its key
    return check_rules(paths) if paths else []
