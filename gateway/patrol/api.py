"""HTTP routes for patrol figures: `/api/patrol/rounds?date=` (CONTRACT.md), `/api/patrol/report` and
`/api/patrol/day`.

`day` is a patrol day (gateway/patrol/day.py): the night that starts at the patrol file's
`day_starts` (noon unless it says otherwise) on that date and runs to the same time the next day, so
`day=2026-11-23` lists the rounds of 20:00 on the 23rd and of 02:00 on the 24th. `date` keeps its
CONTRACT.md meaning, the site-local calendar day (the 00:00 round of the 24th is under 2026-11-24).
With neither, the patrol day the gateway's clock is in.

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
DATE = "site-local calendar day, YYYY-MM-DD (CONTRACT.md); `day` gives a whole night instead"


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

    def chosen(day: str | None, calendar: str | None) -> tuple[date, list[RoundView]]:
        """`day` (a patrol day), else `date` (a calendar day, the contract's), else the patrol day now."""
        if day is None and calendar is not None:
            when = _day(calendar, clock, tz, starts)
            return when, list(rounds_for(when))
        when = _day(day, clock, tz, starts)
        return when, of_day(when)

    @router.get("/rounds", response_model=list[RoundView])  # the one round shape, rounds.py
    def rounds(day: str | None = Query(None, description=DAY),
               date: str | None = Query(None, description=DATE)) -> Any:
        return [r.to_dict() for r in chosen(day, date)[1]]

    @router.get("/day", summary="When a patrol day starts and ends")
    def patrol_day_bounds(day: str | None = Query(None, description=DAY)) -> dict[str, str]:
        when = _day(day, clock, tz, starts)
        start, end = day_bounds(when, tz, starts)
        return {"date": when.isoformat(), "day_starts": starts.strftime("%H:%M"), "from": start.isoformat(),
                "to": end.isoformat()}

    @router.get("/report")
    def report(day: str | None = Query(None, description=DAY), date: str | None = Query(None, description=DATE),
               fmt: str = Query("json", alias="format", description="json or csv")) -> Response:
        if fmt not in ("json", "csv"):
            raise HTTPException(422, f"format {fmt!r} is not offered; use format=json or format=csv.")
        when, listed = chosen(day, date)
        daily = daily_report(listed, day=when, plan=plan, site_id=site_id)
        if fmt == "csv":
            return Response(report_csv(daily, bom=True), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="patrol-{site_id}-{when.isoformat()}.csv"'})
        return Response(orjson.dumps(daily.to_dict()), media_type="application/json")

    return router
