"""The embedded store's writer alone: the commits of profile_ingest's run, replayed into a fresh store.

profile_ingest.py measures the whole process, where the store's writer thread shares the box with
the pipeline thread and its batch sizes follow the timing. This replays the very batches the store
committed in one such run (the demo site's traffic mix, --messages of it), in the same sizes, on
this thread, and reports the CPU of the commits alone per message of the run, and a digest of what
was stored (raw rows and both rollups, by series name), to compare two versions of the store:
equal digests mean equal contents.

    .venv/bin/python bench/bench_store_commits.py [--messages 60000] [--runs 3] [--save F | --load F]

The capture (one profile_ingest --bare run, its output hidden) takes ~20 s; each replay a few. The
batch sizes follow the capturing store's speed, so to compare two trees, capture once (`--save`)
and replay the same file in each (`--load`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import pickle
import runpy
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.core.clock import FakeClock
from gateway.timeseries.embedded import EmbeddedStore
from gateway.timeseries.point import Point

_DIGEST_SQL = [
    "SELECT s.measurement, s.field, s.tags, r.ts, r.value, typeof(r.value) FROM raw r "
    "JOIN series s ON s.id = r.series ORDER BY 1, 2, 3, 4",
    *(f"SELECT s.measurement, s.field, s.tags, r.bucket, round(r.vsum, 6), r.vmin, r.vmax, r.n FROM {t} r "
      "JOIN series s ON s.id = r.series ORDER BY 1, 2, 3, 4" for t in ("rollup_1m", "rollup_1h")),
]


def capture(messages: int) -> list[list[Point]]:
    """The batches EmbeddedStore._commit was given during `profile_ingest.py --bare` (a bench-only
    hook on a private method)."""
    batches: list[list[Point]] = []
    original = EmbeddedStore._commit

    def recording(self: EmbeddedStore, batch: list[Point]) -> None:
        batches.append(list(batch))
        original(self, batch)

    EmbeddedStore._commit = recording  # type: ignore[method-assign]
    argv = sys.argv
    sys.argv = ["profile_ingest.py", "--messages", str(messages), "--bare"]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(str(Path(__file__).with_name("profile_ingest.py")), run_name="__main__")
    finally:
        sys.argv = argv
        EmbeddedStore._commit = original  # type: ignore[method-assign]
    return batches


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for sql in _DIGEST_SQL:
            for row in conn.execute(sql):
                h.update(repr(row).encode())
    return h.hexdigest()[:16]


def replay(batches: list[list[Point]]) -> tuple[float, str]:
    """CPU seconds of this thread for committing every batch into a fresh store, and its digest.

    The store's clock follows the points, as profile_ingest's fake clock does (the store seals its
    rollups an hour at a time by that clock). A last empty commit a day later seals the last hours
    too, inside the timing: the rollups then hold every point, as a store before the sealed mark
    left them, so the digests of the two versions compare."""
    times = [max((p.ts for p in batch), default=None) for batch in batches]
    start = min(t for t in times if t is not None)
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(start)
        store = EmbeddedStore(Path(tmp) / "ts.sqlite3", clock=clock)
        cpu0 = time.thread_time()
        for batch, at in zip(batches, times, strict=True):
            if at is not None and at > clock.now():
                clock.set(at)
            store._commit(batch)
        clock.advance(timedelta(days=1))
        store._commit([])
        cpu = time.thread_time() - cpu0
        store.close()
        return cpu, digest(Path(tmp) / "ts.sqlite3")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--save", type=Path, help="keep the captured batches in this file")
    ap.add_argument("--load", type=Path, help="replay the batches saved in this file, no capture")
    args = ap.parse_args()
    if args.load:
        batches, args.messages = pickle.loads(args.load.read_bytes())
    else:
        batches = capture(args.messages)
    if args.save:
        args.save.write_bytes(pickle.dumps((batches, args.messages)))
    points = sum(len(b) for b in batches)
    rows = sum(len(p.fields) for b in batches for p in b)
    print(f"captured {len(batches)} commits: {points:,} points, {rows:,} field rows, of {args.messages:,} messages")
    for run in range(1, args.runs + 1):
        cpu, dig = replay(batches)
        print(f"run {run}: writer CPU {cpu:.2f} s = {cpu / args.messages * 1e6:.1f} us/msg; contents {dig}")


if __name__ == "__main__":
    main()
