"""The monthly report across sites: each site's report with the site's own arithmetic
(gateway/reports/monthly.py over the tickets its events carried), patrol coverage from its finished
rounds, totals over the fleet, and the sites ranked.

Ranking: timeliness over every stage deadline of the month (on time / judged, best first; a site
with nothing judged ranks last), then patrol coverage, then the site id. Overall figures add up the
sites' counts (never average their rates), so a big site weighs as much as its tickets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from gateway.reports.month import Month
from gateway.reports.monthly import SATISFACTION_TARGET, TIMELINESS_TARGET, monthly_report
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.stages import STAGES
from gateway.tickets.ticket import Ticket

POLICY = TicketPolicy()  # which sources are revisited: the site default (head office cannot see site files)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def site_month(site: str, name: str, tickets: Iterable[Ticket], coverage: tuple[int, int], *, month: Month,
               tz: tzinfo, now: datetime) -> dict[str, Any]:
    """One site's monthly figures; `coverage` is (visited, expected) of its finished rounds of the month."""
    report = monthly_report(tickets, [], month=month, tz=tz, now=now, policy=POLICY, site=site)
    visited, expected = coverage
    on_time = sum(report["stages"][s]["on_time"] for s in STAGES)
    late = sum(report["stages"][s]["late"] for s in STAGES)
    return {
        "site": site, "name": name, "tickets": report["tickets"],
        "timeliness": report["timeliness"], "timeliness_overall": _ratio(on_time, on_time + late),
        "stages": report["stages"], "revisit_rate": report["revisit_rate"], "revisits": report["revisits"],
        "satisfaction": report["satisfaction"], "satisfaction_detail": report["satisfaction_detail"],
        "rework_rate": report["rework_rate"],
        "patrol_coverage": _ratio(visited, expected), "patrol": {"visited": visited, "expected": expected},
    }


def fleet_month(rows: list[dict[str, Any]], *, month: Month, now: datetime, tz: tzinfo) -> dict[str, Any]:
    def order(r: dict[str, Any]) -> tuple[bool, float, bool, float, str]:
        timely, patrol = r["timeliness_overall"], r["patrol_coverage"]
        return (timely is None, -(timely or 0.0), patrol is None, -(patrol or 0.0), str(r["site"]))

    ranked = sorted(rows, key=order)
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank

    def total(path: Iterable[str], key: str) -> int:
        found = 0
        for row in rows:
            node: Mapping[str, Any] = row
            for step in path:
                node = node[step]
            found += int(node[key] or 0)
        return found

    stages: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        on_time, late = total(("stages", stage), "on_time"), total(("stages", stage), "late")
        stages[stage] = {"on_time": on_time, "late": late, "rate": _ratio(on_time, on_time + late),
                         "target": TIMELINESS_TARGET}
    all_on_time = sum(int(s["on_time"]) for s in stages.values())
    all_late = sum(int(s["late"]) for s in stages.values())
    rv_on, rv_late = total(("revisits",), "on_time"), total(("revisits",), "late")
    scored, satisfied = total(("satisfaction_detail",), "scored"), total(("satisfaction_detail",), "satisfied")
    visited, expected = total(("patrol",), "visited"), total(("patrol",), "expected")
    return {
        "month": str(month), "generated_at": now.astimezone(tz).isoformat(), "sites": ranked,
        "overall": {
            "sites": len(rows), "tickets": sum(r["tickets"] for r in rows),
            "timeliness": {s: v["rate"] for s, v in stages.items()}, "stages": stages,
            "timeliness_overall": _ratio(all_on_time, all_on_time + all_late), "timeliness_target": TIMELINESS_TARGET,
            "revisit_rate": _ratio(rv_on, rv_on + rv_late),
            "satisfaction": _ratio(satisfied, scored), "satisfaction_target": SATISFACTION_TARGET,
            "patrol_coverage": _ratio(visited, expected), "patrol": {"visited": visited, "expected": expected},
        },
    }
