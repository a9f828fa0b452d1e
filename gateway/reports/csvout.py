"""The monthly report as one CSV a spreadsheet opens: UTF-8 with a byte-order mark (so Excel shows
Chinese), one table per section, each with a bilingual title row and a header row, a blank row
between tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

BOM = "\ufeff"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows([_cell(v) for v in row] for row in rows)
        writer.writerow([])

    table(f"月报 Monthly report {report['month']} {report['site']}".rstrip(), ["figure", "value"], [
        [key, report[key]] for key in ("tickets", "revisit_rate", "satisfaction", "rework_rate", "patrol_coverage")
    ] + [[f"timeliness.{stage}", rate] for stage, rate in report["timeliness"].items()]
      + [["generated_at", report["generated_at"]]])
    reg = report["registered"]
    table("登记工单 Tickets registered", ["by", "key", "count"],
          [["total", "", reg["total"]], ["cancelled", "", reg["cancelled"]]]
          + [[by.removeprefix("by_"), k, n] for by in ("by_source", "by_category", "by_zone", "by_severity")
             for k, n in reg[by].items()])
    tallies = [[stage, *(t[k] for k in ("on_time", "late", "pending", "rate", "target", "met"))]
               for stage, t in report["stages"].items()]
    for name in ("revisits", "planned"):
        t = report[name]
        tallies.append([name, *(t[k] for k in ("on_time", "late", "pending", "rate", "target", "met"))])
    table("及时率 Timeliness", ["stage", "on_time", "late", "pending", "rate", "target", "met"], tallies)
    sat = report["satisfaction_detail"]
    rw = report["rework"]
    table("满意度与返修 Satisfaction and rework", ["figure", "value"], [
        ["satisfaction.scored", sat["scored"]], ["satisfaction.satisfied", sat["satisfied"]],
        ["satisfaction.rate", sat["rate"]], ["satisfaction.mean", sat["mean"]],
        ["satisfaction.target", sat["target"]], ["rework.repaired", rw["repaired"]],
        ["rework.reworked", rw["reworked"]], ["rework.rate", rw["rate"]], ["rework.tickets", rw["tickets"]]])
    patrol = report["patrol"]
    table("巡更覆盖率 Patrol coverage", ["by", "key", "rounds", "expected", "visited", "missed", "coverage"],
          [["all", "", patrol["rounds"], patrol["expected"], patrol["visited"],
            patrol["expected"] - patrol["visited"], patrol["coverage"]]]
          + [[by.removeprefix("by_"), r["key"], r["rounds"], r["expected"], r["visited"], r["missed"], r["coverage"]]
             for by in ("by_route", "by_guard", "by_zone") for r in patrol[by]])
    table("区域排名 Zones ranked", ["rank", "zone", "on_time", "late", "pending", "rate", "open_overdue"],
          [[z["rank"], z["zone"], z["on_time"], z["late"], z["pending"], z["rate"], z["open_overdue"]]
           for z in report["zones"]])
    table("投诉日审 Complaint review", ["id", "day", "reporter", "zone", "category", "title", "status", "late_stages"],
          [[c[k] for k in ("id", "day", "reporter", "zone", "category", "title", "status", "late_stages")]
           for c in report["complaints"]])
    return BOM + out.getvalue()
