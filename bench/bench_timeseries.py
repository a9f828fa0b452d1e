"""Time-series throughput: the InfluxDB sink against a real VictoriaMetrics, and the embedded store.

Points look like the gateway's `reading` points: 4 tags (site, device of 500, kind, zone of 10)
and 3 fields (a float, an int, a bool), written in batches of 1,000 as the ingest thread does.

- InfluxDB sink, live: write() of every batch, then flush() returns when the server acknowledged
  the last point (spool append + gzip + HTTP + delete), timed from the first write.
- InfluxDB sink, recovery: the same points spooled while the server is down, then the time to
  drain the spool once it is back.
- Embedded store: write() of every batch, then flush() returns when the last batch is committed
  (raw rows and both rollups); rows are field values (3 per point).

    .venv/bin/python bench/bench_timeseries.py [--points 200000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.timeseries.embedded import EmbeddedStore
from gateway.timeseries.influx import InfluxSink
from gateway.timeseries.point import Point
from tests.support.victoria import victoria

BATCH = 1000


def make_points(n: int) -> list[list[Point]]:
    base = datetime.now(UTC) - timedelta(hours=2)  # in the past: VictoriaMetrics shows samples up to now
    points = [Point("reading", {"site": "bench", "device": f"dev-{i % 500}", "kind": "lamp", "zone": f"z{i % 10}"},
                    {"current_a": 0.1 + (i % 97) / 100, "rssi": -(i % 90), "power_on": i % 3 == 0},
                    base + timedelta(milliseconds=i)) for i in range(n)]
    return [points[i:i + BATCH] for i in range(0, n, BATCH)]


def bench_influx_live(batches: list[list[Point]], tmp: Path) -> float:
    n = sum(len(b) for b in batches)
    with victoria(tmp / "vm-live") as vm:
        sink = InfluxSink(url=vm.url, org="o", bucket="b", token="t", spool_dir=tmp / "spool-live",
                          inbox_max_points=n)
        sink.start()
        started = time.perf_counter()
        for b in batches:
            sink.write(b)
        assert sink.flush(600), "the sink did not drain in 600 s"
        elapsed = time.perf_counter() - started
        sink.close()
        stored = vm.wait_count(3 * n, '{__name__=~"reading_.*"}', timeout=60)
    print(f"InfluxDB sink, live:     {n:>9,} points in {elapsed:6.2f} s = {n / elapsed:>9,.0f} points/s "
          f"({stored:,} samples read back)")
    return n / elapsed


def bench_influx_recovery(batches: list[list[Point]], tmp: Path) -> float:
    n = sum(len(b) for b in batches)
    with victoria(tmp / "vm-rec") as vm:
        vm.stop()
        sink = InfluxSink(url=vm.url, org="o", bucket="b", token="t", spool_dir=tmp / "spool-rec",
                          inbox_max_points=n, max_backoff_s=0.2)
        sink.start()
        started = time.perf_counter()
        for b in batches:
            sink.write(b)
        assert sink.wait_spooled(600)
        spooled = time.perf_counter() - started
        vm.start()
        started = time.perf_counter()
        assert sink.flush(600), "the spool did not drain in 600 s"
        elapsed = time.perf_counter() - started
        sink.close()
    print(f"InfluxDB spool append:   {n:>9,} points in {spooled:6.2f} s = {n / spooled:>9,.0f} points/s "
          "(server down)")
    print(f"InfluxDB spool drain:    {n:>9,} points in {elapsed:6.2f} s = {n / elapsed:>9,.0f} points/s "
          "(server back, includes up to one backoff)")
    return n / elapsed


def bench_embedded(batches: list[list[Point]], tmp: Path) -> float:
    n = sum(len(b) for b in batches)
    store = EmbeddedStore(tmp / "ts.sqlite3", queue_max_points=n)
    store.start()
    started = time.perf_counter()
    for b in batches:
        store.write(b)
    assert store.flush(600)
    elapsed = time.perf_counter() - started
    rows = store.stored_rows
    store.close()
    print(f"Embedded store:          {n:>9,} points in {elapsed:6.2f} s = {n / elapsed:>9,.0f} points/s "
          f"= {rows / elapsed:>9,.0f} rows/s ({rows:,} rows)")
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=200_000)
    args = parser.parse_args()
    batches = make_points(args.points)
    with tempfile.TemporaryDirectory() as tmp:
        bench_influx_live(batches, Path(tmp))
        bench_influx_recovery(batches, Path(tmp))
        bench_embedded(batches, Path(tmp))


if __name__ == "__main__":
    main()
