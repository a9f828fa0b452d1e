"""The fleet API (OpenAPI at /openapi.json): sites, one site, tickets and rounds across sites, the
monthly report across sites, dead letters.

A token limited to some sites (its `zones` are site ids at head office: `sitegate hq token create
--sites A,B`) sees only those: lists are filtered, and asking for another site answers 403 naming the
sites it may see.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from gateway.auth.caller import token_holder
from gateway.fleet.service import SORTABLE, FleetService, UnknownSite
from gateway.reports.month import BadMonth, Month

STATUSES = ("open", "acknowledged", "resolved", "closed", "cancelled")


def allowed_sites(request: Request) -> tuple[str, ...] | None:
    """The sites the caller may see; None: every site."""
    holder = token_holder(request.scope)
    return holder.zones if holder is not None and holder.zones else None


def _check_site(request: Request, site: str) -> None:
    allowed = allowed_sites(request)
    if allowed is not None and site not in allowed:
        holder = token_holder(request.scope)
        name = holder.name if holder is not None else "?"
        raise HTTPException(403, f"The token '{name}' is limited to site(s) {', '.join(allowed)}; it may not see "
                                 f"site '{site}'. 该令牌仅限站点 {', '.join(allowed)}。")


def _sites_param(request: Request, site: str | None) -> Collection[str] | None:
    if site is None:
        return allowed_sites(request)
    wanted = [s for s in site.split(",") if s]
    for one in wanted:
        _check_site(request, one)
    return wanted


def make_fleet_router(service: FleetService) -> APIRouter:
    router = APIRouter()

    @router.get("/api/sites", summary="Every site: status, ticket counts, timeliness, patrol, last heard")
    def sites(request: Request,
              sort: Annotated[str, Query(description=f"One of {', '.join(SORTABLE)}.")] = "status",
              desc: bool = False) -> list[dict[str, Any]]:
        return service.sites(allowed_sites(request), sort=sort, desc=desc)

    @router.get("/api/sites/{site}", summary="One site with its tickets, recent rounds and devices",
                responses={403: {"description": "Not one of the token's sites"}, 404: {"description": "Unknown"}})
    def one_site(request: Request, site: str) -> dict[str, Any]:
        _check_site(request, site)
        try:
            return service.site(site)
        except UnknownSite as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("/api/tickets", summary="Tickets across sites (the site API's shape plus `site`)")
    def tickets(request: Request, site: Annotated[str | None, Query(description="Site id(s), comma-separated.")] = None,
                status: Annotated[str | None, Query(description="open, acknowledged, resolved, closed, cancelled; "
                                                    "comma-separated.")] = None,
                limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> list[dict[str, Any]]:
        wanted = [s for s in (status or "").split(",") if s]
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise HTTPException(400, f"status {', '.join(bad)} is not one of {', '.join(STATUSES)}.")
        return service.tickets(_sites_param(request, site), wanted or None, limit=limit)

    @router.get("/api/rounds", summary="Finished patrol rounds across sites")
    def rounds(request: Request, site: str | None = None,
               date: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                                 description="The night that began on this date.")] = None,
               limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> list[dict[str, Any]]:
        return service.rounds(_sites_param(request, site), night=date, limit=limit)

    @router.get("/api/reports/monthly", summary="The monthly report across sites, sites ranked")
    def monthly(request: Request, month: Annotated[str, Query(description="YYYY-MM")]) -> dict[str, Any]:
        try:
            parsed = Month.parse(month)
        except BadMonth as exc:
            raise HTTPException(400, str(exc)) from None
        return service.monthly(parsed, allowed_sites(request))

    @router.get("/api/deadletters", summary="Messages that were not v1 events, newest first")
    def deadletters(limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[dict[str, Any]]:
        return service.store.deadletters(limit)

    return router
