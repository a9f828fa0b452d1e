"""`GET /api/reports/monthly?month=YYYY-MM[&format=csv]` (CONTRACT.md): the month's figures as JSON,
or as a CSV a spreadsheet opens (UTF-8 with BOM). `month` defaults to the current month, site time.

A plain `def` endpoint: FastAPI runs it in its thread pool, so reading a month of tickets never
holds up the event loop."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException, Query, Response

from gateway.core.clock import Clock
from gateway.reports.csvout import report_csv
from gateway.reports.month import BadMonth, Month
from gateway.reports.source import ReportSource


def reports_router(source: ReportSource, clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/api/reports", tags=["reports"])

    @router.get("/monthly", summary="Monthly report: tickets by stage, revisits, rework, patrol coverage")
    def monthly(month: str | None = Query(None, description="site-time month, YYYY-MM"),
                fmt: str = Query("json", alias="format", description="json or csv")) -> Response:
        if fmt not in ("json", "csv"):
            raise HTTPException(422, f"format {fmt!r} is not offered; use format=json or format=csv.")
        now = clock.now()
        try:
            which = Month.parse(month) if month is not None else Month.of(now, source.tz)
        except BadMonth as exc:
            raise HTTPException(422, str(exc)) from None
        report = source.monthly(which, now)
        if fmt == "csv":
            name = f"report-{source.site}-{which}.csv"
            return Response(report_csv(report).encode("utf-8"), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return Response(orjson.dumps(report), media_type="application/json")

    return router
