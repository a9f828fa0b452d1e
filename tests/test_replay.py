"""`sitegate replay`: recorded traffic on the recorded clock, same input -> same output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from gateway.app.replay import replay
from gateway.core.siteload import load_site
from tests.test_tickets_notify import Receiver

DATA = Path(__file__).parent / "data"


def run_replay(site: Path, capture: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "gateway", "replay", str(capture), "--config", str(site), *extra],
                          capture_output=True, timeout=120)


def test_a_recorded_evening_gives_the_same_tickets_and_rounds_every_time(tmp_path: Path) -> None:
    shutil.copy(DATA / "patrol.yaml", tmp_path / "patrol.yaml")
    site = tmp_path / "site.yaml"
    (tmp_path / "assets.csv").write_text("device_id,kind,zone\next-b1-1f-01,extinguisher,b1\n")
    site.write_text("site: {id: demo, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}\n"
                    "patrol: patrol.yaml\ninventory: assets.csv\n")
    capture = tmp_path / "evening.jsonl"
    lines = sorted(line for f in sorted((DATA / "samples").glob("*.jsonl"))
                   for line in f.read_text().splitlines() if line.strip())
    capture.write_text("\n".join(lines) + "\n")

    first = run_replay(site, capture, "--until", "2026-11-21T00:00:00+08:00", "--json")
    second = run_replay(site, capture, "--until", "2026-11-21T00:00:00+08:00", "--json")
    assert first.returncode == 0, first.stderr.decode()
    assert first.stdout == second.stdout
    out = orjson.loads(first.stdout)
    assert out["rejected"] == 0  # the reader's buffered tap is judged on the recorded clock: no skew
    open_rules = {(t["rule"], t["device_id"]) for t in out["tickets"] if t["status"] == "open"}
    assert ("fire.extinguisher_low", "ext-b1-1f-01") in open_rules  # 0.71 MPa at 23:00
    assert ("health.offline", "B3-stair-smoke") in open_rules  # availability offline at 18:07
    low = next(t for t in out["tickets"] if t["rule"] == "fire.extinguisher_low" and t["device_id"] == "ext-b1-1f-01")
    assert low["opened_at"] == "2026-11-20T23:00:00+08:00"
    rounds = {r["round_id"]: r for r in out["rounds"]}
    ten = rounds["night-north@2026-11-20T22:00+08:00"]
    assert (ten["status"], ten["visited"], ten["missed"], ten["coverage"]) == (
        "incomplete", 2, ["cp-b1-roof", "cp-garage-b1"], 0.5)
    assert all(r["scheduled_start"] <= "2026-11-21T00:00:00+08:00" for r in out["rounds"])
    # One missed-checkpoint ticket per ended round that missed any, listing them (nobody walked the
    # evening except G017's gate and lobby at 22:00). The 23:30 plant check has missed its pump room
    # so far, but at midnight it has not ended: a late tap could still count it, so no ticket yet.
    missed = {t["labels"]["round"]: t["labels"]["missed"] for t in out["tickets"]
              if t["rule"] == "patrol.missed_checkpoint"}
    assert len(missed) == len([t for t in out["tickets"] if t["rule"] == "patrol.missed_checkpoint"])
    assert missed == {
        "night-north@2026-11-20T20:00+08:00": "cp-gate-north,cp-b1-lobby,cp-b1-roof,cp-garage-b1",
        "plant-check@2026-11-20T21:30+08:00": "cp-pump-room,cp-gate-south",
        "night-north@2026-11-20T22:00+08:00": "cp-b1-roof,cp-garage-b1",
        "plant-check@2026-11-20T22:30+08:00": "cp-pump-room,cp-gate-south",
    }
    plant = rounds["plant-check@2026-11-20T23:30+08:00"]
    assert (plant["status"], plant["missed"]) == ("in_progress", ["cp-pump-room"])


def test_a_bad_capture_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("site: {id: demo, timezone: Asia/Shanghai}\n")
    capture = tmp_path / "bad.jsonl"
    capture.write_text('{"ts": "2026-11-20T18:00:00+08:00", "topic": "a", "payload": "x"}\nnot json\n')
    result = run_replay(site, capture)
    assert result.returncode == 1
    assert f"{capture}:2: not a capture line" in result.stderr.decode()


def test_replay_never_calls_the_sites_webhooks(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        site = tmp_path / "site.yaml"
        site.write_text("site: {id: demo, timezone: Asia/Shanghai}\n"
                        f"tickets:\n  webhooks:\n    - {{url: '{receiver.url}'}}\n")
        capture = tmp_path / "smoke.jsonl"
        capture.write_text('{"ts": "2026-11-20T21:00:00+08:00", "topic": "sitegate/demo/smoke-1/telemetry", '
                           '"payload": "{\\"smoke\\": true}"}\n')
        result = replay(capture, load_site(site))
        assert [t["rule"] for t in result.tickets] == ["fire.smoke"]  # a change a live gateway would send
        assert receiver.requests == []
    finally:
        receiver.close()
