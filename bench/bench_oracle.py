"""The oracle over many seeded nights: precision and recall of the tickets per fault kind.

Each night (15:00 to 10:30 site time, the demo site as shipped) is simulated with no broker and fed
through the real pipeline on a fake clock; its tickets are judged against what the simulator
really injected (gateway/app/oracle.py). `make test` runs 20 nights (tests/test_oracle.py).

Run: .venv/bin/python bench/bench_oracle.py [--nights 200] [--workers 2] [--show 40]
"""

from __future__ import annotations

import argparse
import time

from gateway.app.oracle import Score, run_nights
from gateway.core.paths import demo_site_dir
from gateway.core.siteload import Overrides, load_site


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nights", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--show", type=int, default=40, help="wrong conclusions to list")
    args = parser.parse_args()
    site = load_site(demo_site_dir() / "site.yaml", Overrides())
    started = time.perf_counter()
    verdicts = run_nights(site, args.nights, first_seed=args.first_seed, workers=args.workers)
    score = Score()
    for verdict in verdicts:
        score.add(verdict)
    print(f"{args.nights} nights (seeds {args.first_seed}..{args.first_seed + args.nights - 1}) in "
          f"{time.perf_counter() - started:.0f} s with {args.workers} workers")
    print(score.table())
    print(f"precision {score.precision():.4f}  recall {score.recall():.4f}  "
          f"wrong conclusions: {len(score.wrong)}")
    print(f"rounds: {score.rounds_checked} checked, {len(score.rounds_wrong)} wrong; patrol mistakes walked: "
          + ", ".join(f"{k} {n}" for k, n in sorted(score.mistakes.items())))
    print(f"device health bands: {score.health_checked} checked, {len(score.health_wrong)} wrong")
    for line in (score.wrong + score.rounds_wrong + score.health_wrong)[:args.show]:
        print("  " + line)


if __name__ == "__main__":
    main()
