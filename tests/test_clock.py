"""The site clock: one accelerated timeline that separate processes compute alike from the same
start, speed and anchor (the wall-clock instant at which site time is the start)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.core.clock import SiteClock, site_clock

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 18, 19, 0, tzinfo=TZ)
ANCHOR = 1_800_000_000.0  # a fixed wall-clock instant: nothing here depends on today


class Wall:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_site_time_is_start_plus_wall_time_since_the_anchor_times_speed() -> None:
    wall = Wall(ANCHOR)
    clock = SiteClock(START, 60, real_start=ANCHOR, wall=wall)
    assert clock.now() == START
    wall.t += 1.5
    assert clock.now() == START + timedelta(seconds=90)
    assert clock.time() == (START + timedelta(seconds=90)).timestamp()
    assert clock.wall_at(START + timedelta(hours=1)) == ANCHOR + 60
    assert clock.real_seconds(timedelta(hours=7)) == 420


def test_two_clocks_built_at_different_moments_from_one_anchor_agree() -> None:
    wall = Wall(ANCHOR - 3.0)  # the gateway starts 3 s before the anchor
    gateway = SiteClock(START, 400, real_start=ANCHOR, wall=wall)
    wall.t = ANCHOR + 2.0
    simulator = SiteClock(START, 400, real_start=ANCHOR, wall=wall)  # the simulator 2 s after it
    wall.t = ANCHOR + 10.25
    assert gateway.now() == simulator.now() == START + timedelta(seconds=4100)


def test_before_its_anchor_the_clock_holds_at_start_and_it_stops_at_until() -> None:
    wall = Wall(ANCHOR - 5)
    until = START + timedelta(hours=7)
    clock = SiteClock(START, 400, real_start=ANCHOR, until=until, wall=wall)
    assert clock.now() == START
    wall.t = ANCHOR + 63  # 7 site hours at 400x take 63 real seconds
    assert clock.now() == until
    wall.t = ANCHOR + 600
    assert clock.now() == until


def test_without_an_anchor_the_clock_starts_when_it_is_built() -> None:
    wall = Wall(ANCHOR)
    clock = SiteClock(START, 2, wall=wall)
    assert clock.real_start == ANCHOR
    wall.t += 10
    assert clock.now() == START + timedelta(seconds=20)


def test_the_options_build_the_same_clock_and_default_start_is_the_anchors_wall_time() -> None:
    clock = site_clock("2026-11-18T19:00:00+08:00", 400, ANCHOR, "2026-11-19T02:00:00+08:00")
    assert (clock.start, clock.speed, clock.real_start, clock.until) == (
        START, 400, ANCHOR, START + timedelta(hours=7))
    assert site_clock(None, 60, ANCHOR).start.timestamp() == ANCHOR


@pytest.mark.parametrize(("args", "message"), [
    (("2026-11-18T19:00:00", 400, ANCHOR, None), "--start 2026-11-18T19:00:00 has no UTC offset"),
    (("tonight", 400, ANCHOR, None), "--start 'tonight' is not an ISO 8601 time"),
    (("2026-11-18T19:00:00+08:00", 0, ANCHOR, None), "--speed must be above 0"),
    (("2026-11-18T19:00:00+08:00", -2, ANCHOR, None), "--speed must be above 0"),
    (("2026-11-18T19:00:00+08:00", 400, -1.0, None), "--real-start is a Unix time in seconds"),
    (("2026-11-18T19:00:00+08:00", 400, ANCHOR, "2026-11-19T02:00:00"), "--until 2026-11-19T02:00:00 has no UTC"),
    (("2026-11-18T19:00:00+08:00", 400, ANCHOR, "2026-11-18T18:00:00+08:00"), "is before --start"),
])
def test_bad_options_are_refused_with_a_sentence_naming_the_option(
        args: tuple[str | None, float, float | None, str | None], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        site_clock(*args)


def test_the_clock_itself_refuses_a_naive_start_and_a_speed_that_is_not_above_zero() -> None:
    with pytest.raises(ValueError, match="above 0"):
        SiteClock(START, speed=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        SiteClock(datetime(2026, 11, 24, 17, 30), speed=1)


@pytest.mark.parametrize(("command", "option", "message"), [
    (["run"], ["--speed", "0"], "--speed must be above 0"),
    (["simulate", "--config", "examples/demo-site/site.yaml"], ["--start", "2026-11-18T19:00"],
     "--start 2026-11-18T19:00:00 has no UTC offset"),
    (["record", "--mqtt-url", "mqtt://127.0.0.1:1", "-o", "x.jsonl"], ["--real-start", "-5"],
     "--real-start is a Unix time in seconds"),
])
def test_the_three_commands_of_a_timeline_refuse_bad_options_before_doing_anything(
        command: list[str], option: list[str], message: str, tmp_path: Path) -> None:
    root = Path(__file__).parent.parent
    done = subprocess.run([sys.executable, "-m", "gateway", *command, *option], capture_output=True, text=True,
                          timeout=60, cwd=root if command[0] != "record" else tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_processes_on_the_moved_test_clock_agree_however_late_they_first_read_it(tmp_path: Path) -> None:
    # `make test-clock` moves every process's wall clock; a gateway, a simulator and a recorder on one
    # site timeline must still agree to the millisecond, whichever of them took longer to start.
    shift = 400 * 24 * 3600
    probe = ("import os, sys, time\n"
             "time.sleep(float(sys.argv[1]))  # a slow start (imports) before the first look at the clock\n"
             "open(sys.argv[2], 'w').close()\n"
             "print(time.time() - os.stat(sys.argv[2]).st_mtime)\n")
    clockshift = Path(__file__).parent / "support" / "clockshift"
    env = {**os.environ, "SITEGATE_CLOCK_SHIFT_S": str(shift),
           "PYTHONPATH": os.pathsep.join([str(clockshift), os.environ.get("PYTHONPATH", "")])}
    offsets = [float(subprocess.run([sys.executable, "-c", probe, late, str(tmp_path / late)], env=env,
                                    capture_output=True, text=True, check=True, timeout=30).stdout)
               for late in ("0", "1.5")]
    assert all(abs(o - shift) < 0.05 for o in offsets), offsets  # the file's time is the kernel's, not moved
