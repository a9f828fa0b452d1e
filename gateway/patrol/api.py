"""HTTP routes for patrol figures: `/api/patrol/rounds?date=` (CONTRACT.md), `/api/patrol/report` and
`/api/patrol/day`.

`date` is a patrol day (gateway/patrol/day.py): the night that starts at the patrol file's
`day_starts` (noon unless it says otherwise) on that date and runs to the same time the next day, so
`date=2026-11-23` lists the rounds of 20:00 on the 23rd and of 02:00 on the 24th. Without `date`,
the patrol day the gateway's clock is in.

The router only reads: it calls `rounds_for(day)` (usually `PatrolConsumer.rounds`, which takes the
tracker's lock that the pipeline thread holds while it judges a tap). Endpoints are plain `def`, so
FastAPI runs them in its thread pool: a request waiting for that lock, or building a report, never
holds up the event loop and every other request with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, time, tzinfo
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Response

from gateway.core.clock import Clock, SystemClock
from gateway.patrol.day import day_bounds, patrol_day, rounds_of_day
from gateway.patrol.model import PatrolPlan
from gateway.patrol.report import daily_report, report_csv
from gateway.patrol.rounds import RoundView

RoundsSource = Callable[[date], Sequence[RoundView]]


DAY = "patrol day, YYYY-MM-DD: from day_starts (noon by default) on that date to day_starts the next day"


def _day(value: str | None, clock: Clock, tz: tzinfo, day_starts: time) -> date:
    if value is None:
        return patrol_day(clock.now(), tz, day_starts)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"date {value!r} is not a date; write it as YYYY-MM-DD, "
                                 "e.g. 2026-11-23.") from None


def patrol_router(rounds_for: RoundsSource, *, plan: PatrolPlan, site_id: str, tz: tzinfo,
                  clock: Clock | None = None) -> APIRouter:
    """Routes under /api/patrol; `rounds_for` lists rounds by calendar day (the tracker's), the routes
    answer by patrol day; `date` defaults to the patrol day now in the site's time zone."""
    clock = clock or SystemClock()
    starts = plan.day_starts
    router = APIRouter(prefix="/api/patrol", tags=["patrol"])

    def of_day(day: date) -> list[RoundView]:
        return rounds_of_day(rounds_for, day, tz, starts)

    @router.get("/rounds", response_model=list[RoundView])  # the one round shape, rounds.py
    def rounds(date: str | None = Query(None, description=DAY)) -> Any:
        return [r.to_dict() for r in of_day(_day(date, clock, tz, starts))]

    @router.get("/day", summary="When a patrol day starts and ends")
    def patrol_day_bounds(date: str | None = Query(None, description=DAY)) -> dict[str, str]:
        day = _day(date, clock, tz, starts)
        start, end = day_bounds(day, tz, starts)
        return {"date": day.isoformat(), "day_starts": starts.strftime("%H:%M"), "from": start.isoformat(),
                "to": end.isoformat()}

    @router.get("/report")
    def report(date: str | None = Query(None, description=DAY),
                     fmt: str = Query("json", alias="format", description="json or csv")) -> Response:
        day = _day(date, clock, tz, starts)
        if fmt not in ("json", "csv"):
            raise HTTPException(422, f"format {fmt!r} is not offered; use format=json or format=csv.")
        daily = daily_report(of_day(day), day=day, plan=plan, site_id=site_id)
        if fmt == "csv":
            return Response(report_csv(daily, bom=True), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="patrol-{site_id}-{day.isoformat()}.csv"'})
        return Response(orjson.dumps(daily.to_dict()), media_type="application/json")

    return router
