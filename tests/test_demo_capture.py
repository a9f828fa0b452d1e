"""The demo capture that ships in examples/demo-site replays, out of the box, to what the live
demo gateway showed while it was recorded.

examples/demo-site/capture.jsonl and capture-live.json were written together by
`python -m tests.support.demo_capture`: 2 h 20 min of the demo's evening (19:30 to 21:50 on
2026-11-18, the demo's seed, rate and 60x speed) through a real mosquitto, the capture by `sitegate
record --config` and the record by reading the live `sitegate run` gateway's API when the shared clock
stopped. This test runs the command the README shows, `sitegate replay examples/demo-site/capture.jsonl
--config examples/demo-site/site.yaml --json`, and requires the live record's tickets (opened within
the measured difference between the gateway's and the recorder's stamps of one message; patrol ones
exactly) and rounds. That the record is a real night, not an empty one, is checked against the
simulator's own script for that evening (its pure core, not the gateway).
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import orjson

from gateway.app.simulator import Simulator, load_sim_site
from gateway.app.simulator.truth import round_truths
from gateway.core.siteload import load_site
from gateway.ingest import capture
from tests.support.demo_capture import CAPTURE, END, LIVE, SEED, SITE, START, rounds_of, tickets_of

LIVE_RECORD: dict[str, Any] = orjson.loads(LIVE.read_bytes())


def by_key(tickets: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[datetime, str, str]]]:
    """(rule, device) -> [(opened_at, status, severity)] in time order."""
    out: dict[tuple[str, str], list[tuple[datetime, str, str]]] = defaultdict(list)
    for t in tickets:
        out[(t["rule"], t["device_id"])].append((datetime.fromisoformat(t["opened_at"]), t["status"], t["severity"]))
    return {k: sorted(v) for k, v in out.items()}


def test_the_shipped_capture_is_small_in_site_time_and_holds_taps() -> None:
    assert CAPTURE.stat().st_size < 2_000_000
    messages = list(capture.read(CAPTURE))
    assert len(messages) == LIVE_RECORD["messages"]
    # Stamped as the demo site's devices stamp: site time with the site's offset.
    raw = [orjson.loads(line)["ts"] for line in CAPTURE.read_bytes().splitlines()[:50]]
    assert all(ts.endswith("+08:00") for ts in raw), raw[:3]
    assert messages[0].received_at >= START and messages[-1].received_at <= END
    assert sum(m.topic.endswith("/tap") for m in messages) >= 20


def test_the_live_record_is_the_night_the_simulator_played() -> None:
    site = load_sim_site(load_site(SITE))
    script = Simulator(site, seed=SEED).faults.night(START.date())
    live = by_key(LIVE_RECORD["tickets"])
    devices = {device for (_, device) in live}
    in_slice = [f for f in script.faults if f.start < END and f.kind not in ("smoke_alarm", "zone_outage")]
    assert len(in_slice) == 5, [f.title for f in script.faults]  # two dead lamps, a leak, a battery, a door
    for fault in in_slice:
        assert fault.devices <= devices, f"the evening played {fault.title!r} and live ticketed nothing on it"
    truth = {t.round_id: (t.status, t.expected, t.visited, list(t.missed), t.late)
             for t in round_truths(site, SEED, START, END)}
    assert truth and {r["round_id"]: (r["status"], r["expected"], r["visited"], r["missed"], r["late"])
                      for r in LIVE_RECORD["rounds"]} == truth
    assert ("patrol.missed_checkpoint", "night-south") in live  # the 20:00 round walked in the wrong order


def test_replaying_the_shipped_capture_gives_what_the_live_demo_showed() -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "replay", str(CAPTURE), "--config", str(SITE), "--json"],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    result = orjson.loads(done.stdout)
    assert result["rejected"] == 0
    live, again = by_key(LIVE_RECORD["tickets"]), by_key(tickets_of(result["tickets"]))
    assert set(again) == set(live), (f"only live: {sorted(set(live) - set(again))}; "
                                     f"only in replay: {sorted(set(again) - set(live))}")
    skew = timedelta(seconds=LIVE_RECORD["stamp_skew_s"])
    for key, opened in live.items():
        exact = key[0].startswith("patrol.") or key[0].startswith("request.")
        replayed = again[key]
        assert len(replayed) == len(opened) and all(
            (a == b if exact else abs(a - b) <= skew) and rest_a == rest_b
            for (a, *rest_a), (b, *rest_b) in zip(opened, replayed, strict=True)), \
            f"{key}: live {opened}, replay {replayed}, stamps differ by up to {skew}"
    assert rounds_of(result["rounds"]) == LIVE_RECORD["rounds"]


def test_the_capture_ships_in_the_package_with_the_demo_site() -> None:
    import fnmatch
    import tomllib

    pyproject = tomllib.loads((SITE.parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["gateway.builtin.demo_site"]
    assert any(fnmatch.fnmatch(CAPTURE.name, p) for p in patterns), patterns
