"""The daily patrol report a manager prints or exports: per route and guard, and per route.

Figures count finished rounds only (completed or incomplete) whose scheduled start falls on the
day; rounds still scheduled or in progress are listed in `open_rounds` but not in the figures.
A round belongs to the guard who made its first counted tap ("" when nobody tapped).

- coverage     = visited / expected checkpoints (late visits count as visited)
- on_time_rate = checkpoints tapped inside their window / expected checkpoints
- mean_delay_s = mean of (tap time - expected time) over visited checkpoints, signed: negative
                 means ahead of plan; empty when nothing was visited.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from gateway.patrol.model import PatrolPlan
from gateway.patrol.rounds import COMPLETED, INCOMPLETE, VISITED, RoundView

ALL_GUARDS = "*"
CSV_COLUMNS = ("date", "route", "route_name", "guard", "guard_name", "rounds", "completed", "incomplete",
               "expected", "visited", "on_time", "late", "missed", "coverage", "on_time_rate", "mean_delay_s")


@dataclass(frozen=True, slots=True)
class ReportRow:
    route: str
    route_name: str
    guard: str  # guard id, "" for rounds nobody started, "*" on a per-route total row
    guard_name: str
    rounds: int
    completed: int
    incomplete: int
    expected: int
    visited: int
    on_time: int
    late: int
    missed: int
    coverage: float
    on_time_rate: float
    mean_delay_s: float | None


@dataclass(frozen=True, slots=True)
class DailyReport:
    site: str
    date: date
    rows: list[ReportRow]  # one per route and guard
    routes: list[ReportRow]  # one per route, all guards together (guard "*")
    open_rounds: int = 0
    rounds: list[RoundView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "date": self.date.isoformat(), "open_rounds": self.open_rounds,
                "rows": [asdict(r) for r in self.rows], "routes": [asdict(r) for r in self.routes]}


def _row(route: str, route_name: str, guard: str, guard_name: str, rounds: Sequence[RoundView]) -> ReportRow:
    expected = sum(r.expected for r in rounds)
    visited = sum(r.visited for r in rounds)
    stops = [c for r in rounds for c in r.checkpoints]
    on_time = sum(1 for c in stops if c.state == VISITED)
    delays = [c.delay_s for c in stops if c.delay_s is not None and c.tapped_at is not None]
    return ReportRow(
        route=route, route_name=route_name, guard=guard, guard_name=guard_name, rounds=len(rounds),
        completed=sum(1 for r in rounds if r.status == COMPLETED),
        incomplete=sum(1 for r in rounds if r.status == INCOMPLETE),
        expected=expected, visited=visited, on_time=on_time, late=sum(r.late for r in rounds),
        missed=sum(len(r.missed) for r in rounds),
        coverage=visited / expected if expected else 0.0,
        on_time_rate=on_time / expected if expected else 0.0,
        mean_delay_s=sum(delays) / len(delays) if delays else None)


def daily_report(rounds: Iterable[RoundView], *, day: date, plan: PatrolPlan, site_id: str) -> DailyReport:
    """Figures for `day` from the rounds the tracker (or a replay) reports for it."""
    all_rounds = list(rounds)
    finished = [r for r in all_rounds if r.status in (COMPLETED, INCOMPLETE)]
    guard_names = {g.id: g.name or g.id for g in plan.guards}
    route_names = {r.id: r.name or r.id for r in plan.routes}
    rows, totals = [], []
    for route in sorted({r.route for r in finished}):
        of_route = [r for r in finished if r.route == route]
        name = route_names.get(route, route)
        for guard in sorted({r.guard or "" for r in of_route}):
            mine = [r for r in of_route if (r.guard or "") == guard]
            rows.append(_row(route, name, guard, guard_names.get(guard, guard or "(no guard)"), mine))
        totals.append(_row(route, name, ALL_GUARDS, "(all guards)", of_route))
    return DailyReport(site=site_id, date=day, rows=rows, routes=totals,
                       open_rounds=len(all_rounds) - len(finished), rounds=all_rounds)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
    return "" if value is None else value


def report_csv(report: DailyReport, *, bom: bool = False) -> str:
    """CSV text: a header, the route-and-guard rows, then each route's total row (guard "*").

    `bom=True` starts with a UTF-8 byte-order mark so spreadsheet programs show Chinese names.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in [*report.rows, *report.routes]:
        values = asdict(row)
        writer.writerow([report.date.isoformat(), *(_cell(values[c]) for c in CSV_COLUMNS[1:])])
    return ("\ufeff" if bom else "") + out.getvalue()
