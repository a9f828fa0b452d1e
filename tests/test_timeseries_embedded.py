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


# The points of most tests lie at T0 and a few hours after. A clock a day later puts them all before
# the sealed mark (the staged path: checked against raw, rollups kept right at once); a clock half
# an hour after T0 puts them after it (raw only, sealed into the rollups later).
@pytest.fixture(params=[timedelta(days=1), timedelta(minutes=30)], ids=["before-mark", "after-mark"])
def clock(request: pytest.FixtureRequest) -> FakeClock:
    return FakeClock(T0 + request.param)


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


def _sealed(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT before FROM sealed").fetchone()[0])


def _from_raw(path: Path, width_us: int) -> list[tuple[object, ...]]:
    """The rollups recounted from raw: of the points before the sealed mark (later ones are in raw
    only, and queries aggregate them there)."""
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute(
            f"SELECT series, ts - ts % {width_us} AS b, round(sum(value), 6), min(value), max(value), count(*) "
            "FROM raw WHERE typeof(value) IN ('integer', 'real') AND ts < ? GROUP BY series, b", (_sealed(path),)))


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
    # The journal replays points the store already committed after a restart, some in the same
    # batch as new ones (before the sealed mark or after it, by the clock fixture).
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
    write(store, [reading("d", T0 + timedelta(seconds=50), v=1), reading("d", T0 + timedelta(seconds=50), v="x"),
                  reading("d", T0 + timedelta(seconds=50), v=5)])  # repeats of mixed types: the last wins
    assert values(store.query("reading", "v", **span)) == [2, 4, 6, 5]
    write(store, [reading("d", T0 + timedelta(seconds=50), v=7)])
    assert values(store.query("reading", "v", **span)) == [2, 4, 6, 7]
    for step in (timedelta(minutes=1), HOUR):
        assert _count_and_avg(store, step) == (4, 19 / 4)
    _assert_rollups_recount_raw(store.path)


def test_a_row_stored_behind_the_writers_back_is_replaced_not_counted_twice(tmp_path: Path, clock: FakeClock) -> None:
    # Two stores on one file (not a supported setup): each reads the sealed mark in its transaction.
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
    seals = set()
    for _ in range(6):
        store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
        store.start()
        try:
            for _ in range(5):  # mostly newer points, some replayed or late ones, as after a restart
                batch = []
                for _ in range(rng.randrange(1, 200)):
                    t += rng.randrange(0, 40)
                    late = rng.random() < 0.1  # some by minutes, some by hours: before the mark
                    at = max(0, t - rng.randrange(0, rng.choice([600, 4 * 3600]))) if late else t
                    batch.append(reading(rng.choice("abc"), T0 + timedelta(seconds=at), v=rng.randrange(100),
                                         on=rng.random() < 0.5, fw=rng.choice(["1.0", "1.1"])))
                clock.set(max(clock.now(), T0 + timedelta(seconds=t)))  # the clock follows the points
                write(store, batch)
                seals.add(_sealed(store.path))
        finally:
            store.close()
        _assert_rollups_recount_raw(tmp_path / "ts.sqlite3")
    if clock.now() - T0 < timedelta(days=1):  # after the mark: it moved (points sealed) between batches
        assert len(seals) > 3


# --- the sealed mark: rollups written an hour at a time ------------------------------------------

def _truth(points: dict[tuple[str, int], float], step_s: int, agg: str, start_s: int, end_s: int,
           width_s: int) -> list[tuple[int, float]]:
    """What a query with a step must answer, computed here from the points written (the last value
    of each (device, second) wins): one aggregate per step over every point whose bucket of the
    answering resolution (`width_s`: 60, 3600, or 1 for raw) starts in [start rounded down, end)."""
    start_s -= start_s % step_s
    by_step: dict[int, list[float]] = {}
    for (_device, at), v in points.items():
        if start_s <= at - at % width_s < end_s:
            by_step.setdefault(at - at % step_s, []).append(v)
    out = []
    for b in sorted(by_step):
        vs = by_step[b]
        out.append((b, {"avg": sum(vs) / len(vs), "min": min(vs), "max": max(vs), "count": len(vs)}[agg]))
    return out


def _answers(store: EmbeddedStore, step_s: int, agg: str, start_s: int, end_s: int) -> list[tuple[int, object]]:
    answer = store.query("reading", "v", start=T0 + timedelta(seconds=start_s), end=T0 + timedelta(seconds=end_s),
                         step=timedelta(seconds=step_s), agg=agg, limit=100_000)
    return [(int((datetime.fromisoformat(str(t)) - T0).total_seconds()), v) for t, v in answer["points"]]


_STEPS = [(30, 1), (60, 60), (300, 60), (3600, 3600), (7200, 3600)]  # (step, width of the table that answers)


def _assert_answers_recount(store: EmbeddedStore, points: dict[tuple[str, int], float], until_s: int) -> None:
    for step_s, width_s in _STEPS:
        for agg in ("avg", "min", "max", "count"):
            for start_s, end_s in ((0, until_s), (1_234, until_s - 4_321)):  # and edges inside buckets
                want = _truth(points, step_s, agg, start_s, end_s, width_s)
                got = _answers(store, step_s, agg, start_s, end_s)
                assert [b for b, _v in got] == [b for b, _v in want], (step_s, agg, start_s)
                assert [v for _b, v in got] == [pytest.approx(v, rel=1e-12) for _b, v in want], (step_s, agg)
                if agg != "count" and width_s > 1:  # a float, as the REAL rollup columns always answered
                    assert all(isinstance(v, float) for _b, v in got), (step_s, agg, got)


def test_answers_with_a_step_equal_a_recount_of_the_points_while_the_mark_moves(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    store.start()
    rng = random.Random(5)
    points: dict[tuple[str, int], float] = {}
    t = 0
    try:
        for _ in range(40):  # ~10 hours: the mark moves 9 times; some points late by hours, some rewrites
            batch = []
            for _ in range(rng.randrange(50, 150)):
                t += rng.randrange(0, 12)
                at = max(0, t - rng.randrange(0, 3 * 3600)) if rng.random() < 0.05 else t
                device = rng.choice("abc")
                v: float = rng.choice([rng.randrange(-50, 50), rng.uniform(-1, 1), rng.random() < 0.5])
                batch.append(reading(device, T0 + timedelta(seconds=at), v=v))
                points[(device, at)] = float(v)
            clock.set(T0 + timedelta(seconds=t))
            write(store, batch)
        assert _sealed(store.path) == epoch_us(T0) + (t - 3600) // 3600 * 3_600_000_000  # whole hours, 1-2 h behind
        assert t > 5 * 3600
        _assert_rollups_recount_raw(store.path)
        _assert_answers_recount(store, points, t + 1)
        clock.set(T0 + timedelta(days=2))  # everything sealed now: the same answers from the rollups
        store.sweep()
        assert _sealed(store.path) > epoch_us(T0) + t * 1_000_000
        _assert_rollups_recount_raw(store.path)
        _assert_answers_recount(store, points, t + 1)
    finally:
        store.close()


def test_points_after_the_mark_are_in_raw_only_until_the_clock_seals_their_hour(tmp_path: Path) -> None:
    clock = FakeClock(T0 + timedelta(minutes=10))
    store = EmbeddedStore(tmp_path / "ts.sqlite3", clock=clock)
    store.start()
    try:
        assert _sealed(store.path) == epoch_us(T0 - HOUR)  # the last whole hour at least an hour ago
        write(store, [reading("d", T0 + timedelta(minutes=m), v=m) for m in range(90)])
        write(store, [reading("d", T0, v=100)])  # a rewrite after the mark: raw only, nothing to fix
        assert _rollups(store.path, "rollup_1m") == [] and _rollups(store.path, "rollup_1h") == []
        span: dict[str, Any] = {"start": T0, "end": T0 + 2 * HOUR}
        assert values(store.query("reading", "v", step=HOUR, agg="max", **span)) == [100.0, 89.0]
        clock.set(T0 + 2 * HOUR + timedelta(minutes=5))  # the next commit seals T0's hour, not the next
        write(store, [reading("d", T0 + 2 * HOUR, v=7)])
        assert _sealed(store.path) == epoch_us(T0 + HOUR)
        assert [r[1:] for r in _rollups(store.path, "rollup_1h")] == [
            (epoch_us(T0), round(sum(range(1, 60)) + 100, 6), 1.0, 100.0, 60)]
        assert len(_rollups(store.path, "rollup_1m")) == 60
        _assert_rollups_recount_raw(store.path)
        assert values(store.query("reading", "v", step=HOUR, agg="count", **span)) == [60, 30]
    finally:
        store.close()


def test_a_file_written_before_the_sealed_mark_existed_opens_and_answers_the_same(tmp_path: Path) -> None:
    # Such a file's rollups hold every point stored. Made here from a new file: its rollups filled
    # with the recount of every raw row, the mark's table dropped (both as the old store left them).
    path = tmp_path / "ts.sqlite3"
    clock = FakeClock(T0 + HOUR)
    store = EmbeddedStore(path, clock=clock)
    store.start()
    points: dict[tuple[str, int], float] = {}
    for s in range(0, 3 * 3600, 7):
        points[("a", s)] = float(s % 97)
    write(store, [reading(d, T0 + timedelta(seconds=s), v=v) for (d, s), v in points.items()])
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM rollup_1m")
        conn.execute("DELETE FROM rollup_1h")
        for table, width in (("rollup_1m", 60_000_000), ("rollup_1h", 3_600_000_000)):
            conn.execute(f"INSERT INTO {table} SELECT series, ts - ts % {width} AS b, sum(value), min(value), "
                         f"max(value), count(*) FROM raw GROUP BY series, b")
        conn.execute("DROP TABLE sealed")
    again = EmbeddedStore(path, clock=clock)
    again.start()
    try:
        assert _sealed(path) == epoch_us(T0 + 3 * HOUR)  # after the newest point: nothing counted twice
        _assert_answers_recount(again, points, 3 * 3600)
        # New points, a rewrite of an old one (before the mark: staged) and the clock moving on.
        write(again, [reading("a", T0 + timedelta(seconds=7), v=500)])
        points[("a", 7)] = 500.0
        pending = []
        for s in range(3 * 3600, 6 * 3600, 11):  # 100 points a commit, the clock following them
            clock.set(T0 + timedelta(seconds=s))
            points[("a", s)] = float(s % 89)
            pending.append(reading("a", T0 + timedelta(seconds=s), v=s % 89))
            if len(pending) == 100:
                write(again, pending)
                pending = []
        write(again, pending)
        assert _sealed(path) == epoch_us(T0 + 4 * HOUR)
        _assert_rollups_recount_raw(path)
        _assert_answers_recount(again, points, 6 * 3600)
    finally:
        again.close()


_KILLED_WRITER = """
import sys
from datetime import timedelta
from pathlib import Path
from gateway.core.clock import FakeClock
from gateway.timeseries.embedded import EmbeddedStore
from tests.test_timeseries_embedded import T0, reading
follow = sys.argv[2] == "follow"  # the clock follows the points: the mark moves, hours get sealed
clock = FakeClock(T0 + timedelta(hours=0 if follow else float(sys.argv[2])))
store = EmbeddedStore(Path(sys.argv[1]), clock=clock)
store.start()
for i in range(0, 100_000, 500):  # far more than it commits before the kill
    if follow:
        clock.set(T0 + timedelta(seconds=i))
    store.write([reading(f"d{j % 7}", T0 + timedelta(seconds=j), v=j % 13, on=j % 2 == 0)
                 for j in range(i, i + 500)])
    store.flush(10)
    if i == 1_000:
        print("committing", flush=True)
"""


@pytest.mark.parametrize("writer_hours", ["0", "24", "follow"],
                         ids=["writer-after-mark", "writer-before-mark", "writer-sealing"])
def test_kill_9_mid_commits_then_a_replay_of_everything_stores_it_once(tmp_path: Path, clock: FakeClock,
                                                                      writer_hours: str) -> None:
    # The journal's promise: after kill -9 everything is written again (what was committed and what
    # was not); the old store's last transaction was cut anywhere. The killed writer's points lie
    # after its sealed mark (raw only) or before it; the new store's clock moves the mark or not.
    path = tmp_path / "ts.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path), writer_hours],
                            stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout is not None and proc.stdout.readline() == b"committing\n"
    time.sleep(random.Random(3).uniform(0.05, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    _assert_rollups_recount_raw(path)  # what the killed writer committed: the rollups match its raw rows
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
