from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.core.clock import FakeClock
from gateway.timeseries.embedded import EmbeddedStore, RetentionPolicy
from gateway.timeseries.point import Point, epoch_us
from gateway.timeseries.query import SeriesAnswer

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def reading(device: str, ts: datetime, zone: str = "north", **fields: float | int | bool | str) -> Point:
    return Point("reading", {"site": "hv", "device": device, "kind": "extinguisher", "zone": zone}, fields, ts)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(days=1))


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock, sweep_every=timedelta(days=3650))
    s.start()
    yield s
    s.close()


def write(store: EmbeddedStore, points: list[Point]) -> None:
    store.write(points)
    assert store.flush(10), "the writer thread did not commit within 10 s"


def values(answer: SeriesAnswer) -> list[object]:
    return [v for _t, v in answer["points"]]


def test_raw_query_answers_values_oldest_first_with_iso_times(store: EmbeddedStore) -> None:
    write(store, [reading("ext-1", T0 + timedelta(seconds=s), pressure_mpa=1.0 + s / 10) for s in (2, 0, 1)])
    answer = store.query("reading", "pressure_mpa", device="ext-1", start=T0, end=T0 + HOUR)
    assert answer == {"points": [["2026-11-23T12:00:00+00:00", 1.0], ["2026-11-23T12:00:01+00:00", 1.1],
                                 ["2026-11-23T12:00:02+00:00", 1.2]],
                      "truncated": False, "limit": 10_000, "resolution": "raw"}


def test_start_is_inclusive_and_end_exclusive(store: EmbeddedStore) -> None:
    write(store, [reading("d", T0 + timedelta(seconds=s), v=s) for s in range(5)])
    answer = store.query("reading", "v", start=T0 + timedelta(seconds=1), end=T0 + timedelta(seconds=3))
    assert values(answer) == [1, 2]


def test_booleans_are_stored_as_one_and_zero_and_strings_only_raw(store: EmbeddedStore) -> None:
    write(store, [reading("d", T0, power_on=True, fw="1.2"), reading("d", T0 + HOUR, power_on=False, fw="1.3")])
    assert values(store.query("reading", "power_on", start=T0, end=T0 + 2 * HOUR)) == [1, 0]
    assert values(store.query("reading", "fw", start=T0, end=T0 + 2 * HOUR)) == ["1.2", "1.3"]
    with pytest.raises(ValueError, match="holds text, which cannot be averaged"):
        store.query("reading", "fw", start=T0, end=T0 + 2 * HOUR, step=HOUR)


def test_device_and_zone_filters_select_series(store: EmbeddedStore) -> None:
    write(store, [reading("a", T0, zone="north", v=1), reading("b", T0, zone="south", v=2),
                  reading("c", T0 + timedelta(seconds=1), zone="north", v=3)])
    span: dict[str, Any] = {"start": T0, "end": T0 + HOUR}
    assert values(store.query("reading", "v", zone="north", **span)) == [1, 3]
    assert values(store.query("reading", "v", device="b", **span)) == [2]
    assert values(store.query("reading", "v", device="b", zone="north", **span)) == []
    assert values(store.query("reading", "nope", **span)) == []


def test_limit_cuts_and_says_so(store: EmbeddedStore) -> None:
    write(store, [reading("d", T0 + timedelta(seconds=s), v=s) for s in range(10)])
    cut = store.query("reading", "v", start=T0, end=T0 + HOUR, limit=4)
    assert values(cut) == [0, 1, 2, 3] and cut["truncated"] is True and cut["limit"] == 4
    exact = store.query("reading", "v", start=T0, end=T0 + HOUR, limit=10)
    assert len(exact["points"]) == 10 and exact["truncated"] is False


def test_step_picks_the_coarsest_table_that_answers_exactly(store: EmbeddedStore) -> None:
    # Two devices, one point every 10 s for 3 hours: value = minute index (device a) or 100 (device b).
    pts = [reading("a", T0 + timedelta(seconds=s), v=s // 60) for s in range(0, 3 * 3600, 10)]
    pts += [reading("b", T0 + timedelta(seconds=s), v=100) for s in range(0, 3 * 3600, 10)]
    write(store, pts)
    span: dict[str, Any] = {"start": T0, "end": T0 + 3 * HOUR}
    hourly = store.query("reading", "v", step=HOUR, **span)
    assert hourly["resolution"] == "1h"
    # Per hour: mean over both devices of (minute index) and 100, six points per minute each.
    assert values(hourly) == [pytest.approx((sum(range(h * 60, h * 60 + 60)) / 60 + 100) / 2) for h in range(3)]
    assert store.query("reading", "v", step=timedelta(minutes=5), **span)["resolution"] == "1m"
    by_30s = store.query("reading", "v", device="a", step=timedelta(seconds=30), **span)
    assert by_30s["resolution"] == "raw" and values(by_30s)[:3] == [0, 0, 1]
    assert values(store.query("reading", "v", device="a", step=HOUR, agg="max", **span)) == [59, 119, 179]
    assert values(store.query("reading", "v", device="a", step=HOUR, agg="count", **span)) == [360] * 3


def test_step_rounds_from_down_to_a_step_boundary(store: EmbeddedStore) -> None:
    write(store, [reading("d", T0 + timedelta(minutes=m), v=m) for m in range(120)])
    answer = store.query("reading", "v", start=T0 + timedelta(minutes=30), end=T0 + 2 * HOUR, step=HOUR)
    assert [t for t, _v in answer["points"]] == ["2026-11-23T12:00:00+00:00", "2026-11-23T13:00:00+00:00"]


def _rollups(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute(f"SELECT series, bucket, round(vsum, 6), vmin, vmax, n FROM {table}"))


def _from_raw(path: Path, width_us: int) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute(
            f"SELECT series, ts - ts % {width_us} AS b, round(sum(value), 6), min(value), max(value), count(*) "
            "FROM raw WHERE typeof(value) IN ('integer', 'real') GROUP BY series, b"))


def test_incremental_rollups_equal_a_recount_from_raw_even_with_rewrites(store: EmbeddedStore) -> None:
    rng = random.Random(7)
    for _ in range(20):  # batches with late points, repeats and rewrites of earlier timestamps
        batch = [reading(rng.choice("abc"), T0 + timedelta(seconds=rng.randrange(0, 7200)), v=rng.randrange(100))
                 for _ in range(rng.randrange(1, 300))]
        write(store, batch)
    assert _rollups(store.path, "rollup_1m") == _from_raw(store.path, 60_000_000)
    assert _rollups(store.path, "rollup_1h") == _from_raw(store.path, 3_600_000_000)


def test_a_redelivered_point_is_counted_once_and_a_rewrite_replaces_the_value(store: EmbeddedStore) -> None:
    p = reading("d", T0, v=10)
    write(store, [p, p])
    write(store, [p])
    span: dict[str, Any] = {"start": T0, "end": T0 + HOUR}
    assert store.query("reading", "v", step=HOUR, agg="count", **span)["points"][0][1] == 1
    write(store, [reading("d", T0, v=30)])  # e.g. a patrol round revised at the same timestamp
    assert values(store.query("reading", "v", **span)) == [30]
    assert values(store.query("reading", "v", step=HOUR, agg="avg", **span)) == [30]
    assert values(store.query("reading", "v", step=timedelta(minutes=1), agg="min", **span)) == [30]


def _assert_rollups_recount_raw(path: Path) -> None:
    assert _rollups(path, "rollup_1m") == _from_raw(path, 60_000_000)
    assert _rollups(path, "rollup_1h") == _from_raw(path, 3_600_000_000)


def _count_and_avg(store: EmbeddedStore, step: timedelta) -> tuple[object, object]:
    span: dict[str, Any] = {"start": T0, "end": T0 + HOUR, "step": step}
    return (values(store.query("reading", "v", agg="count", **span))[0],
            values(store.query("reading", "v", agg="avg", **span))[0])


def test_a_point_redelivered_after_a_restart_replaces_and_is_counted_once(tmp_path: Path, clock: FakeClock) -> None:
    # The new store knows no series' latest time (its marks are empty): the journal replays points
    # it already committed, some in the same batch as new ones.
    first = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    first.start()
    write(first, [reading("d", T0 + timedelta(seconds=s), v=10) for s in range(3)])
    first.close()
    again = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    again.start()
    try:
        write(again, [reading("d", T0 + timedelta(seconds=s), v=20) for s in range(5)])
        for step in (timedelta(minutes=1), HOUR):
            assert _count_and_avg(again, step) == (5, 20)
        _assert_rollups_recount_raw(again.path)
    finally:
        again.close()


def test_an_out_of_order_point_is_added_when_new_and_replaces_when_stored(store: EmbeddedStore) -> None:
    write(store, [reading("d", T0 + timedelta(seconds=30), v=1)])
    write(store, [reading("d", T0 + timedelta(seconds=10), v=2),  # older than the latest, but new
                  reading("d", T0 + timedelta(seconds=40), v=3),
                  reading("d", T0 + timedelta(seconds=30), v=4),  # older, and stored: replaces 1
                  reading("d", T0 + timedelta(seconds=40), v=6)])  # a repeat within the batch: the last wins
    span: dict[str, Any] = {"start": T0, "end": T0 + HOUR}
    assert values(store.query("reading", "v", **span)) == [2, 4, 6]
    for step in (timedelta(minutes=1), HOUR):
        assert _count_and_avg(store, step) == (3, 4)
    _assert_rollups_recount_raw(store.path)


def test_a_row_stored_behind_the_writers_back_is_replaced_not_counted_twice(tmp_path: Path, clock: FakeClock) -> None:
    # Two stores on one file (not a supported setup): the first's mark of the series is too low, so
    # it takes a stored row for new; the plain INSERT refuses it and the batch goes the staged way.
    one = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    other = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    one.start()
    other.start()
    try:
        write(one, [reading("d", T0, v=1)])
        write(other, [reading("d", T0 + timedelta(seconds=1), v=2)])
        write(one, [reading("d", T0 + timedelta(seconds=1), v=5), reading("d", T0 + timedelta(seconds=2), v=6)])
        assert values(one.query("reading", "v", start=T0, end=T0 + HOUR)) == [1, 5, 6]
        for step in (timedelta(minutes=1), HOUR):
            assert _count_and_avg(one, step) == (3, 4)
        _assert_rollups_recount_raw(one.path)
    finally:
        other.close()
        one.close()


def test_rollups_equal_a_recount_across_restarts_with_redeliveries(tmp_path: Path, clock: FakeClock) -> None:
    rng = random.Random(11)
    t = 0
    for _ in range(6):  # each store instance starts with no marks
        store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
        store.start()
        try:
            for _ in range(5):  # mostly newer points, some replayed or late ones, as after a restart
                batch = []
                for _ in range(rng.randrange(1, 200)):
                    t += rng.randrange(0, 20)
                    late = rng.random() < 0.1
                    at = max(0, t - rng.randrange(0, 600)) if late else t
                    batch.append(reading(rng.choice("abc"), T0 + timedelta(seconds=at), v=rng.randrange(100),
                                         on=rng.random() < 0.5, fw=rng.choice(["1.0", "1.1"])))
                write(store, batch)
        finally:
            store.close()
        _assert_rollups_recount_raw(tmp_path / "ts.sqlite3")


_KILLED_WRITER = """
import sys
from datetime import timedelta
from pathlib import Path
from gateway.core.clock import FakeClock
from gateway.timeseries.embedded import EmbeddedStore
from tests.test_timeseries_embedded import T0, reading
store = EmbeddedStore(Path(sys.argv[1]), clock=FakeClock(T0 + timedelta(days=1)))
store.start()
for i in range(0, 100_000, 500):  # far more than it commits before the kill
    store.write([reading(f"d{j % 7}", T0 + timedelta(seconds=j), v=j % 13, on=j % 2 == 0)
                 for j in range(i, i + 500)])
    store.flush(10)
    if i == 1_000:
        print("committing", flush=True)
"""


def test_kill_9_mid_commits_then_a_replay_of_everything_stores_it_once(tmp_path: Path, clock: FakeClock) -> None:
    # The journal's promise: after kill -9 everything is written again (what was committed and what
    # was not); the new store has no marks, the old one's last transaction was cut anywhere.
    path = tmp_path / "ts.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout is not None and proc.stdout.readline() == b"committing\n"
    time.sleep(random.Random(3).uniform(0.05, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    store = EmbeddedStore(path, clock=clock)  # a clock within raw retention: no sweep in between
    store.start()
    try:
        with sqlite3.connect(path) as conn:
            committed = conn.execute("SELECT count(*) FROM raw").fetchone()[0]
        points = [reading(f"d{j % 7}", T0 + timedelta(seconds=j), v=j % 13, on=j % 2 == 0)
                  for j in range(committed // 2 + 2_000)]
        for i in range(0, len(points), 700):
            write(store, points[i:i + 700])
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM raw").fetchone()[0] == 2 * len(points)
        _assert_rollups_recount_raw(path)
        count = values(store.query("reading", "v", start=T0, end=T0 + timedelta(days=2), step=timedelta(days=1),
                                   agg="count"))
        assert sum(count) == len(points)  # type: ignore[arg-type]
    finally:
        store.close()


def test_retention_keeps_each_resolution_for_its_own_time(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock, sweep_every=timedelta(days=3650),
                          retention=RetentionPolicy(raw=timedelta(days=7), minute=timedelta(days=90),
                                                    hour=timedelta(days=730)))
    store.start()
    try:
        write(store, [reading("d", T0 + timedelta(minutes=m), v=m) for m in range(120)])
        span: dict[str, Any] = {"start": T0, "end": T0 + 2 * HOUR}
        for days, raw, minute, hour in [(6, 120, 120, 2), (8, 0, 120, 2), (91, 0, 0, 2), (731, 0, 0, 0)]:
            clock.set(T0 + timedelta(days=days))
            store.sweep()
            assert len(store.query("reading", "v", **span)["points"]) == raw
            assert len(store.query("reading", "v", step=timedelta(minutes=1), **span)["points"]) == minute
            assert len(store.query("reading", "v", step=HOUR, **span)["points"]) == hour
    finally:
        store.close()


def test_the_writer_thread_sweeps_on_its_own_when_due(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock, sweep_every=timedelta(minutes=10))
    store.start()
    try:
        write(store, [reading("d", T0, v=1)])
        clock.set(T0 + timedelta(days=8))
        write(store, [reading("d", T0 + timedelta(days=8), v=2)])  # the batch after the due time triggers it
        assert values(store.query("reading", "v", start=T0, end=T0 + timedelta(days=9))) == [2]
    finally:
        store.close()


def test_the_writer_skips_a_sweep_only_while_nothing_can_be_past_retention(tmp_path: Path) -> None:
    """The writer's sweep is skipped while the oldest row is inside retention; rows written older
    later, or data ageing past the cutoff, bring it back."""
    clock = FakeClock(T0)
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock, sweep_every=timedelta(minutes=10))
    store.start()
    span: dict[str, Any] = {"start": T0 - timedelta(days=30), "end": T0 + timedelta(days=30)}
    try:
        write(store, [reading("d", T0, v=1)])  # the first due sweep measures the tables
        clock.set(T0 + timedelta(days=1))
        write(store, [reading("d", T0 + timedelta(days=1), v=2)])
        assert store._oldest["raw"] == epoch_us(T0)
        clock.set(T0 + timedelta(days=2))
        write(store, [reading("d", T0 - timedelta(days=9), v=0)])  # older than the raw retention
        clock.set(T0 + timedelta(days=3))
        write(store, [reading("d", T0 + timedelta(days=3), v=3)])  # due: the old row makes it run
        assert values(store.query("reading", "v", **span)) == [1, 2, 3]
        clock.set(T0 + timedelta(days=7, hours=1))  # the row at T0 has aged past 7 days
        write(store, [reading("d", T0 + timedelta(days=7, hours=1), v=4)])
        assert values(store.query("reading", "v", **span)) == [2, 3, 4]
    finally:
        store.close()


def test_data_survives_closing_and_reopening(tmp_path: Path, clock: FakeClock) -> None:
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    store.start()
    store.write([reading("d", T0, v=1)])
    store.close()  # close drains what was queued
    again = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    again.start()
    try:
        write(again, [reading("d", T0 + timedelta(seconds=1), v=2)])
        assert values(again.query("reading", "v", start=T0, end=T0 + HOUR)) == [1, 2]
        assert values(again.query("reading", "v", start=T0, end=T0 + HOUR, step=HOUR, agg="count")) == [2]
    finally:
        again.close()


def test_a_full_inbox_refuses_batches_whole_and_counts_them(tmp_path: Path, clock: FakeClock) -> None:
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock, queue_max_points=10)
    store.start()
    try:
        with store._write_lock:  # hold the writer thread inside its commit
            store.write([reading("d", T0, v=0)])
            for _ in range(100):  # until the writer has taken the first batch and blocks on the lock
                if store.backlog() == 1 and len(store._inbox) == 0:
                    break
                store.flush(0.01)
            store.write([reading("d", T0 + timedelta(seconds=s), v=s) for s in range(1, 9)])  # 8 fit
            store.write([reading("d", T0 + timedelta(seconds=s), v=s) for s in range(9, 12)])  # 3 do not
            assert store.dropped() == 3
            assert store.backlog() == 9
        assert store.flush(10)
        assert len(store.query("reading", "v", start=T0, end=T0 + HOUR)["points"]) == 9
    finally:
        store.close()


def test_status_is_buffering_when_the_inbox_is_more_than_half_full(tmp_path: Path, clock: FakeClock) -> None:
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock, queue_max_points=10)
    store.start()
    try:
        assert store.status() == "ok"
        with store._write_lock:
            store.write([reading("d", T0, v=0)])
            for _ in range(100):
                if len(store._inbox) == 0:
                    break
                store.flush(0.01)
            store.write([reading("d", T0 + timedelta(seconds=s), v=s) for s in range(1, 8)])
            assert store.status() == "buffering"
        assert store.flush(10) and store.status() == "ok"
    finally:
        store.close()


def test_bad_questions_are_refused_with_a_sentence(store: EmbeddedStore) -> None:
    with pytest.raises(ValueError, match="is not before the end"):
        store.query("reading", "v", start=T0, end=T0)
    with pytest.raises(ValueError, match="no UTC offset"):
        store.query("reading", "v", start=datetime(2026, 1, 1), end=T0)
    with pytest.raises(ValueError, match="whole number of seconds"):
        store.query("reading", "v", start=T0, end=T0 + HOUR, step=timedelta(milliseconds=1500))
    with pytest.raises(ValueError, match="between 1 and"):
        store.query("reading", "v", start=T0, end=T0 + HOUR, limit=0)
    with pytest.raises(ValueError, match="Unknown aggregate"):
        store.query("reading", "v", start=T0, end=T0 + HOUR, step=HOUR, agg="median")
