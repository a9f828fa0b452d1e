from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.timeseries.spool import Spool


def lines(a: int, b: int) -> list[bytes]:
    return [f"m v={i}i {i}".encode() for i in range(a, b)]


def drain(spool: Spool, batch: int = 7) -> list[bytes]:
    out: list[bytes] = []
    while True:
        upto, got = spool.peek(batch)
        if not got:
            return out
        out += got
        spool.ack(upto)


def test_lines_come_out_in_the_order_they_went_in(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_points=1000)
    for a in range(0, 100, 10):
        spool.append(lines(a, a + 10))
    assert len(spool) == 100
    assert drain(spool) == lines(0, 100)
    assert len(spool) == 0 and spool.peek(10) == (0, [])


def test_peek_does_not_remove_and_only_ack_deletes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_points=100)
    spool.append(lines(0, 5))
    upto, first = spool.peek(3)
    assert spool.peek(3) == (upto, first)  # a failed send leaves the head where it was
    assert spool.ack(upto) == 3
    assert spool.peek(10)[1] == lines(3, 5)


def test_the_spool_survives_reopening_with_order_and_drop_count(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_points=10)
    spool.append(lines(0, 12))
    upto, _ = spool.peek(3)
    spool.ack(upto)
    spool.close()
    again = Spool(tmp_path / "s.db", max_points=10)
    assert len(again) == 7 and again.dropped == 2
    assert drain(again) == lines(5, 12)


def test_drop_oldest_keeps_the_newest_points_and_counts_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_points=10, policy="drop_oldest")
    assert spool.append(lines(0, 8)) == 0
    assert spool.append(lines(8, 13)) == 3
    assert spool.full and spool.dropped == 3
    assert drain(spool) == lines(3, 13)


def test_drop_newest_refuses_what_does_not_fit_and_counts_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_points=10, policy="drop_newest")
    spool.append(lines(0, 8))
    assert spool.append(lines(8, 13)) == 3
    assert spool.append(lines(13, 15)) == 2
    assert spool.dropped == 5
    assert drain(spool) == lines(0, 10)


def test_a_batch_bigger_than_the_spool_keeps_its_newest_lines(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_points=4, policy="drop_oldest")
    spool.append(lines(0, 2))
    assert spool.append(lines(2, 12)) == 8
    assert drain(spool) == lines(8, 12)


def test_an_ack_for_lines_the_full_policy_removed_never_deletes_newer_lines(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_points=3, policy="drop_oldest")
    spool.append(lines(0, 3))
    upto, _ = spool.peek(3)  # a send is in flight...
    spool.append(lines(3, 6))  # ...while the full policy evicts all of it
    spool.ack(upto)  # the late acknowledgement must not touch the new lines
    assert drain(spool) == lines(3, 6)
    spool.append(lines(6, 7))  # sequence numbers are never reused, even after the spool was empty
    assert spool.peek(1)[0] > upto


def test_invalid_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one point"):
        Spool(tmp_path / "s.db", max_points=0)
    with pytest.raises(ValueError, match="drop_oldest or drop_newest"):
        Spool(tmp_path / "s.db", max_points=5, policy="block")  # type: ignore[arg-type]


def test_an_appended_batch_survives_kill_9_of_the_process(tmp_path: Path) -> None:
    child = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from gateway.timeseries.spool import Spool
        spool = Spool(Path({str(tmp_path / "s.db")!r}), max_points=100_000)
        for a in range(0, 20_000, 5000):
            spool.append([f"m v={{i}}i {{i}}".encode() for i in range(a, a + 5000)])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", child], cwd=Path(__file__).parent.parent, timeout=60)
    assert proc.returncode == -9
    spool = Spool(tmp_path / "s.db", max_points=100_000)
    assert drain(spool, 5000) == lines(0, 20_000)


def test_a_line_already_waiting_is_not_queued_twice(tmp_path: Path) -> None:
    # After a crash the gateway replays its journal and re-encodes byte-identical points.
    spool = Spool(tmp_path / "s.db", max_points=1000)
    spool.append(lines(0, 10))
    spool.append(lines(5, 15))
    assert len(spool) == 15
    assert drain(spool) == lines(0, 15)
