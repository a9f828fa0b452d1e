"""`GET /api/status` (the site's red / amber / green with reasons, the tickets that need action, the
gateway's own health apart) and `GET /api/places` (the floor list): the overview's figures, computed
here so every client shows the same thing (gateway/web/sitestatus.py, places.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from gateway.web.places import floor_list
from gateway.web.sitestatus import Places, site_status

if TYPE_CHECKING:
    from gateway.ingest.gateway import Gateway

# Enough for any site's active tickets; the list is short because closed tickets are not asked for.
ACTIVE_LIMIT = 5000


def _active_tickets(gw: Gateway) -> list[dict[str, Any]]:
    service = gw.features.get("tickets")
    if service is None:
        return []
    return [t.to_json() for status in ("open", "acknowledged")
            for t in service.list(status=status, limit=ACTIVE_LIMIT)]


def _rounds(gw: Gateway) -> list[dict[str, Any]]:
    """Rounds of today and yesterday (site dates): a night's rounds cross midnight."""
    patrol = gw.features.get("patrol")
    if patrol is None:
        return []
    today = gw.clock.now().astimezone(gw.tz).date()
    return [r.to_dict() for day in (today - timedelta(days=1), today) for r in patrol.rounds(day)]


def _places(gw: Gateway) -> Places:
    devices = {d.id: d.location for d in gw.inventory.values() if d.location}
    patrol = gw.features.get("patrol")
    checkpoints = {cp.id: cp.label for cp in patrol.tracker.plan.checkpoints} if patrol is not None else {}
    return Places(devices=devices, checkpoints=checkpoints)


def make_overview_router(gw: Gateway) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["overview"])

    @router.get("/status", summary="Site status: red / amber / green with reasons, and what needs action now")
    def status() -> dict[str, Any]:
        now = gw.clock.now().astimezone(gw.tz)
        result = site_status(tickets=_active_tickets(gw), devices=gw.registry.views(now), rounds=_rounds(gw),
                             places=_places(gw), now=now)
        health = gw.health()
        result["gateway"] = {k: health.get(k) for k in ("status", "mqtt", "timeseries", "storage", "problems")}
        return result

    @router.get("/places", summary="Zones and their floors with device, offline and open-ticket counts")
    def places() -> list[dict[str, Any]]:
        now = gw.clock.now()
        return floor_list(gw.registry.views(now), _active_tickets(gw))

    return router
