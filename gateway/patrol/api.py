"""HTTP routes for patrol figures: `/api/patrol/rounds?date=` (CONTRACT.md) and `/api/patrol/report`.

The router only reads: it calls `rounds_for(day)` (usually `PatrolConsumer.rounds`, which takes the
tracker's lock that the pipeline thread holds while it judges a tap). Endpoints are plain `def`, so
FastAPI runs them in its thread pool: a request waiting for that lock, or building a report, never
holds up the event loop and every other request with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, tzinfo
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Response

from gateway.core.clock import Clock, SystemClock
from gateway.patrol.model import PatrolPlan
from gateway.patrol.report import daily_report, report_csv
from gateway.patrol.rounds import RoundView

RoundsSource = Callable[[date], Sequence[RoundView]]


def _day(value: str | None, clock: Clock, tz: tzinfo) -> date:
    if value is None:
        return clock.now().astimezone(tz).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"date {value!r} is not a date; write it as YYYY-MM-DD, "
                                 "e.g. 2026-11-23.") from None


def patrol_router(rounds_for: RoundsSource, *, plan: PatrolPlan, site_id: str, tz: tzinfo,
                  clock: Clock | None = None) -> APIRouter:
    """Routes under /api/patrol; `date` defaults to today in the site's time zone."""
    clock = clock or SystemClock()
    router = APIRouter(prefix="/api/patrol", tags=["patrol"])

    @router.get("/rounds", response_model=list[RoundView])  # the one round shape, rounds.py
    def rounds(date: str | None = Query(None, description="site-local day, YYYY-MM-DD")) -> Any:
        return [r.to_dict() for r in rounds_for(_day(date, clock, tz))]

    @router.get("/report")
    def report(date: str | None = Query(None, description="site-local day, YYYY-MM-DD"),
                     fmt: str = Query("json", alias="format", description="json or csv")) -> Response:
        day = _day(date, clock, tz)
        if fmt not in ("json", "csv"):
            raise HTTPException(422, f"format {fmt!r} is not offered; use format=json or format=csv.")
        daily = daily_report(rounds_for(day), day=day, plan=plan, site_id=site_id)
        if fmt == "csv":
            return Response(report_csv(daily, bom=True), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="patrol-{site_id}-{day.isoformat()}.csv"'})
        return Response(orjson.dumps(daily.to_dict()), media_type="application/json")

    return router
