"""One live night through a real mosquitto and real `sitegate run`, `sitegate record` and
`sitegate simulate` processes on one accelerated site timeline, then `sitegate replay` of the capture:
replay and live must judge the night alike.

The night: the demo site (examples/demo-site) from 2026-11-18 19:00 to 11-19 02:00 site time at 450x
(56 real seconds). All three processes get the same --start, --speed, --real-start (an anchor a few
seconds ahead, so gateway and recorder are subscribed before the first message) and --until (their
clocks hold there, so the live gateway is read at exactly the end of the night the replay stops at).
The simulator's script for that night: two lamps failing at dusk, a leaking extinguisher, a detector
whose battery dies, a fire door propped open, a smoke alarm, a lighting circuit tripping at 01:10, and
three patrol mistakes. The test first checks that the live night ticketed the faults and that its
rounds have the figures the simulator's ground truth gives, so it cannot pass on an empty night.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from gateway.app.simulator import Simulator, load_sim_site
from gateway.app.simulator.truth import round_truths
from gateway.core.paths import demo_site_dir
from gateway.core.siteload import load_site
from gateway.ingest import capture
from tests.support.gateway_proc import GatewayProcess, wait_for
from tests.support.mosquitto import Broker
from tests.support.timeline_procs import count_lines, messages_received, sitegate, stop_process, timeline

TZ = ZoneInfo("Asia/Shanghai")
SITE = demo_site_dir() / "site.yaml"
START = datetime(2026, 11, 18, 19, 0, tzinfo=TZ)
END = datetime(2026, 11, 19, 2, 0, tzinfo=TZ)
SPEED = 450.0  # the 7 site hours take 56 real seconds
# At 450x the demo site's 221 devices need about 271 messages per real second to report on their own
# periods (Simulator.demand); a little more keeps every device well inside its heartbeat.
RATE = 330.0
# The night's script (gateway/app/simulator/faults.py and mistakes.py): with seed 11, its three patrol
# mistakes (a missed first checkpoint and a shared round at 20:00, a guard held up at 22:00) all fall
# on rounds inside the slice.
SEED = 11
# Real seconds from choosing the anchor to reaching it, for gateway and recorder to start (2 to 5 s
# here). Later is no harm: the simulator is only started once both are subscribed, and begins wherever
# the shared clock is by then.
LEAD_S = 6.0
# Tolerance. The gateway stamps a message when it reaches its MQTT connection, the recorder when it
# reaches its own; a ticket opened on a reading carries that stamp, one opened by a timer (a heartbeat,
# a rule's `for`) the stamp of the message that armed it plus the duration. So a live ticket and its
# replay differ by exactly the difference between the two stamps of one message, and the largest such
# difference over the night, measured from the gateway's journal and the capture, bounds them all.
# Both subscribers get each message from one broker on loopback within milliseconds, but either can
# be descheduled on a busy 2-core machine (three Python processes and mosquitto share it): 100 ms real
# is 45 s of site time at 450x. MAX_SKEW only keeps the bound meaningful. Patrol is judged on the
# readers' own tap times, so its tickets and every round's figures must agree exactly.
MAX_SKEW = timedelta(seconds=1.0 * SPEED)  # one real second
ROUND_FIGURES = ("status", "expected", "visited", "missed", "late")


@dataclass
class Night:
    live_tickets: list[dict[str, Any]]
    live_rounds: list[dict[str, Any]]
    capture: Path  # what `sitegate record` wrote
    journal: list[tuple[str, bytes, float]]  # what the gateway took: topic, payload, its arrival stamp
    faults: list[str]  # the simulator's list of the faults it played
    real_s: float  # how long the live part took
    spare_s: float  # how long before the anchor gateway and recorder were ready










def _live_state(gw: GatewayProcess) -> list[list[dict[str, Any]]]:
    tickets = gw.get("/api/tickets", limit=5000)
    rounds = [r for day in ("2026-11-18", "2026-11-19") for r in gw.get("/api/patrol/rounds", date=day)]
    return [tickets, rounds]




def live_night(broker: Broker, tmp: Path) -> Night:
    began = time.monotonic()
    url = ["--mqtt-url", broker.url]
    recorded = tmp / "night.jsonl"
    anchor = time.time() + LEAD_S
    gw = GatewayProcess(SITE, args=[*url, "--data", str(tmp / "data"), *run_timeline(anchor)], log=tmp / "gateway.log")
    with (tmp / "record.log").open("wb") as record_log:
        # With the site file the recorder takes exactly what the site's gateway subscribes to.
        recorder = subprocess.Popen(sitegate("record", "--config", str(SITE), *url, "-o", str(recorded),
                                              *run_timeline(anchor)), stdout=record_log, stderr=subprocess.STDOUT)
    simulator: subprocess.Popen[bytes] | None = None
    try:
        gw.start()  # returns once the gateway is subscribed and has published its retained status
        # That retained "online" matches the recorder's filters: its line in the capture says the
        # recorder's one SUBSCRIBE is in place.
        wait_for(lambda: count_lines(recorded) >= 1, 30, "the recorder to subscribe")
        ready = anchor - time.time()
        simulator = subprocess.Popen(
            sitegate("simulate", "--config", str(SITE), *url, "--data", str(tmp / "sim"), "--rate", str(RATE),
                      "--seed", str(SEED), "--log-level", "warning", *run_timeline(anchor)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = simulator.communicate(timeout=LEAD_S + (END - START).total_seconds() / SPEED + 60)
        assert simulator.returncode == 0, err.decode()
        published = re.search(rb"published (\d+) messages", out)
        assert published is not None, out.decode()
        # The simulator waited for every PUBACK, so the whole night is at the broker: wait until both
        # subscribers have it, then until the gateway has run its timers up to the end of the night
        # (its clock holds there): two equal reads with a pipeline tick (1 s) between them.
        wait_for(lambda: messages_received(gw) == count_lines(recorded) >= int(published.group(1)), 60,
                 "the gateway and the recorder to receive the whole night")
        reads: list[list[list[dict[str, Any]]]] = []

        def settled() -> bool:
            health = gw.get("/api/health")
            reads.append(_live_state(gw))
            if health["now"] != END.isoformat() or health["pending"]:
                reads.clear()
            time.sleep(1.2)  # not an assertion: the pace of the reads, one pipeline tick apart
            return len(reads) >= 2 and reads[-1] == reads[-2]

        wait_for(settled, 60, "the live gateway to settle at the end of the night")
    finally:
        if simulator is not None:
            stop_process(simulator)
        stop_process(recorder)
        gw.stop()
    with sqlite3.connect(tmp / "data" / "state.db") as db:
        journal = [(t, bytes(p), r) for t, p, r in
                   db.execute("SELECT topic, payload, received_at FROM journal ORDER BY seq")]
    faults = [line.removeprefix("fault: ") for line in out.decode().splitlines() if line.startswith("fault: ")]
    return Night(reads[-1][0], reads[-1][1], recorded, journal, faults, time.monotonic() - began, ready)


def replay(captured: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(sitegate("replay", str(captured), "--config", str(SITE), "--until", END.isoformat(),
                                      "--json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def result(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    parsed: dict[str, Any] = orjson.loads(out)
    return parsed


def tickets(found: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[datetime, str]]]:
    """(rule, device) -> [(opened_at, status)] in time order."""
    out: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for t in found:
        out[(t["rule"], t["device_id"])].append((datetime.fromisoformat(t["opened_at"]), t["status"]))
    return {k: sorted(v) for k, v in out.items()}


def figures(rounds: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {r["round_id"]: tuple(r[f] for f in ROUND_FIGURES) for r in rounds
            if datetime.fromisoformat(r["scheduled_start"]) <= END}


def test_a_live_night_and_its_replay_give_the_same_tickets_and_rounds(broker: Broker, tmp_path: Path) -> None:
    night = live_night(broker, tmp_path)
    # The journal written out in the capture format: the same messages with the gateway's own stamps.
    own = tmp_path / "journal.jsonl"
    own.write_bytes(b"".join(capture.encode(t, p, datetime.fromtimestamp(r, UTC)) for t, p, r in night.journal))
    from_recorder, from_journal = replay(night.capture), replay(own)
    replayed, replayed_own = result(from_recorder), result(from_journal)
    live = tickets(night.live_tickets)

    # Not vacuous: the simulator played the night's script (its pure core says what that is), the
    # live gateway ticketed every device fault, and its rounds have the figures the walked taps must
    # give (the simulator's ground truth, computed without the tracker), patrol mistakes included.
    script = Simulator(load_sim_site(load_site(SITE)), seed=SEED).faults.night(START.date())
    mistakes = [i for i in script.incidents if START <= i.start < END]
    played = "\n".join(night.faults)
    assert all(f.title in played for f in script.faults) and all(i.title in played for i in mistakes), played
    assert {i.kind for i in mistakes} == {"missed_first", "late", "shared_round"}  # seed 11's mistakes that night
    devices = {d for (_, d) in live}
    for fault in script.faults:
        if fault.kind == "zone_outage":  # the board's meter speaks for the circuit; its lamps are muted
            assert any(rule == "lighting.circuit_outage" for rule, _ in live), fault.title
        else:
            assert fault.devices <= devices, f"the night played {fault.title!r} and live ticketed nothing on it"
    truth = {t.round_id: tuple(list(t.missed) if f == "missed" else getattr(t, f) for f in ROUND_FIGURES)
             for t in round_truths(load_sim_site(load_site(SITE)), SEED, START, END)}
    assert len(truth) == 12 and {k: figures(night.live_rounds)[k] for k in truth} == truth
    assert any(rule == "patrol.missed_checkpoint" for rule, _ in live)

    # The gateway and the recorder took the same messages in the same order; their stamps differ by
    # at most `skew` (see MAX_SKEW).
    recorded = list(capture.read(night.capture))
    assert [(m.topic, m.payload) for m in recorded] == [(t, p) for t, p, _ in night.journal]
    skew = timedelta(seconds=max(abs(r - m.received_at.timestamp()) for (_, _, r), m in zip(
        night.journal, recorded, strict=True)))
    assert skew < MAX_SKEW, f"the two subscribers' stamps differ by up to {skew}: the machine is too busy"

    # With the gateway's own stamps, replay is live exactly: same tickets, times, statuses and rounds.
    assert tickets(replayed_own["tickets"]) == live
    assert figures(replayed_own["rounds"]) == figures(night.live_rounds)

    # With the recorder's stamps: the same tickets, opened within `skew` (patrol ones exactly), the
    # same statuses, and the same figures for every round of the night.
    again = tickets(replayed["tickets"])
    assert set(again) == set(live), (f"only live: {sorted(set(live) - set(again))}; "
                                     f"only in replay: {sorted(set(again) - set(live))}")
    for key, opened in live.items():
        exact = key[0].startswith("patrol.")
        assert len(again[key]) == len(opened) and all(
            (a == b if exact else abs(a - b) <= skew) and s == z for (a, s), (b, z) in zip(opened, again[key],
                                                                                            strict=True)), \
            f"{key}: live {opened}, replay {again[key]}, stamps differ by up to {skew}"
    rounds = figures(night.live_rounds)
    assert len(rounds) == 16  # four routes at 20:00, 22:00, 00:00 and 02:00
    assert figures(replayed["rounds"]) == rounds
    print(f"\nlive night: {len(night.journal)} messages, {sum(map(len, live.values()))} tickets, {len(rounds)} "
          f"rounds, subscribers' stamps within {skew.total_seconds():.1f} site s; live part {night.real_s:.1f} s "
          f"(ready {night.spare_s:.1f} s before the anchor)")


def run_timeline(anchor: float) -> list[str]:
    return timeline(START, SPEED, END, anchor)
