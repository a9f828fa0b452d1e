"""A month's report from the demo site, as one command (issue 12's closing evidence).

Every night of the month (15:00 to 10:30 site time, seeded simulator traffic, like the oracle's) runs
through the real offline gateway, all nights adding to ONE ticket store and ONE patrol round archive;
the people (front desk, engineers, customer service, inspectors: gateway/app/simulator/staff.py) act
through the ticket and maintenance services in between, in time order (gateway/app/month.py). Then
the month's report is made by the code behind `GET /api/reports/monthly` and written as JSON and
CSV (the API's two formats), and a short summary is printed.

Run: .venv/bin/python bench/demo_month.py --month 2026-11 --out docs/reports/demo-2026-11
     [--seed 1] [--nights N (the first N nights only)] [--records DIR (keep the store and archive)]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from gateway.app.month import days_of, run_month, summary
from gateway.core.paths import demo_site_dir
from gateway.core.siteload import Overrides, load_site
from gateway.reports.csvout import report_csv
from gateway.reports.month import BadMonth, Month


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--month", required=True, help="YYYY-MM, site time")
    parser.add_argument("--out", required=True, type=Path, help="folder for the report's JSON and CSV")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nights", type=int, default=None, help="run only the month's first N nights")
    parser.add_argument("--records", type=Path, default=None,
                        help="keep the ticket store and round archive in this (empty) folder")
    args = parser.parse_args()
    try:
        month = Month.parse(args.month)
    except BadMonth as exc:
        print(f"demo_month: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("gateway.app.month").setLevel(logging.INFO)  # a line per night: progress
    site = load_site(demo_site_dir() / "site.yaml", Overrides())
    days = days_of(month, site.tz)[: args.nights]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sitegate-month-") as tmp:
        records = args.records or Path(tmp)
        if records.exists() and any(records.iterdir()):
            print(f"demo_month: {records} is not empty; give an empty folder so the month starts clean",
                  file=sys.stderr)
            return 2
        run = run_month(site, month, records, seed=args.seed, days=days)
    seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"report-{site.site.id}-{month}"
    (args.out / f"{name}.json").write_text(json.dumps(run.report, ensure_ascii=False, indent=2) + "\n",
                                           encoding="utf-8")
    (args.out / f"{name}.csv").write_bytes(report_csv(run.report).encode("utf-8"))
    text = summary(run, site.site.name)
    (args.out / "summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    nights = len(run.night_seconds)
    print(f"run time: {seconds:.0f} s wall, {sum(run.night_cpu):.0f} s CPU ({sum(run.night_seconds) / nights:.1f} s "
          f"wall, {sum(run.night_cpu) / nights:.1f} s CPU per night, sequential); written to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
