"""Make the demo capture that ships in examples/demo-site, with a record of what the live gateway
concluded while it was taken:

    python -m tests.support.demo_capture      # about 2.5 real minutes; rewrites the two files

It runs what `sitegate demo` runs, as separate processes on one accelerated site TIMELINE through a
real mosquitto: `sitegate run` (the live gateway), `sitegate simulate` with the demo's seed, rate and
speed from the demo's 19:30 start, and `sitegate record --config` (stamps in the site's timezone).
When the clock stops it reads the live gateway's tickets and rounds over its API and writes

- examples/demo-site/capture.jsonl: the recorder's capture (what `sitegate replay` reads);
- examples/demo-site/capture-live.json: the live conclusions for the same period, and the largest
  difference between the gateway's and the recorder's arrival stamps of one message (measured from
  the gateway's journal), which bounds how far a replayed ticket's open time can differ from live.

tests/test_demo_capture.py replays the capture and checks it against that record.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from gateway.ingest import capture
from tests.support.gateway_proc import GatewayProcess, wait_for
from tests.support.mosquitto import mosquitto
from tests.support.timeline_procs import count_lines, messages_received, sitegate, stop_process, timeline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo-site"
SITE = EXAMPLE / "site.yaml"
CAPTURE = EXAMPLE / "capture.jsonl"
LIVE = EXAMPLE / "capture-live.json"
TZ = ZoneInfo("Asia/Shanghai")
# The demo's own settings (gateway/app/demo.py, `sitegate demo` and `sitegate simulate` defaults):
# 19:30 start, 60x, 40 messages a second, seed 7. Until 21:50 the slice holds the dusk lamp faults,
# the leaking extinguisher, the detector whose battery dies, the fire door propped open at 21:10 and
# the four 20:00 rounds (one walked in the wrong order), and stays under 1.5 MB.
START = datetime(2026, 11, 18, 19, 30, tzinfo=TZ)
END = datetime(2026, 11, 18, 21, 50, tzinfo=TZ)
SPEED, RATE, SEED = 60.0, 40.0, 7
LEAD_S = 6.0  # real seconds for gateway and recorder to subscribe before the clock starts
TICKET_FIELDS = ("rule", "device_id", "opened_at", "status", "severity")
ROUND_FIGURES = ("round_id", "status", "expected", "visited", "missed", "late")


def tickets_of(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The comparable part of API tickets, in a stable order."""
    return sorted(({f: t[f] for f in TICKET_FIELDS} for t in found),
                  key=lambda t: (t["rule"], t["device_id"], t["opened_at"]))


def rounds_of(found: list[dict[str, Any]], end: datetime = END) -> list[dict[str, Any]]:
    """The figures of the rounds scheduled inside the slice, by id."""
    return sorted(({f: r[f] for f in ROUND_FIGURES} for r in found
                   if datetime.fromisoformat(r["scheduled_start"]) <= end), key=lambda r: r["round_id"])










def _live_state(gw: GatewayProcess) -> list[list[dict[str, Any]]]:
    return [gw.get("/api/tickets", limit=5000), gw.get("/api/patrol/rounds", date=START.date().isoformat())]




def take(tmp: Path, capture_out: Path = CAPTURE, live_out: Path = LIVE) -> dict[str, Any]:
    """Run the live slice and write the capture and the live record; returns the record."""
    with mosquitto(tmp / "mosquitto") as broker:
        url = ["--mqtt-url", broker.url]
        recorded = tmp / "capture.jsonl"
        anchor = time.time() + LEAD_S
        gw = GatewayProcess(SITE, args=[*url, "--data", str(tmp / "data"), "--log-level", "warning",
                                        *run_timeline(anchor)], log=tmp / "gateway.log")
        with (tmp / "record.log").open("wb") as record_log:
            recorder = subprocess.Popen(sitegate("record", "--config", str(SITE), *url, "-o", str(recorded),
                                                  *run_timeline(anchor)), stdout=record_log, stderr=subprocess.STDOUT)
        simulator: subprocess.Popen[bytes] | None = None
        try:
            gw.start()
            wait_for(lambda: count_lines(recorded) >= 1, 30, "the recorder to subscribe")
            simulator = subprocess.Popen(
                sitegate("simulate", "--config", str(SITE), *url, "--data", str(tmp / "sim"), "--rate", str(RATE),
                          "--seed", str(SEED), "--log-level", "warning", *run_timeline(anchor)),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = simulator.communicate(timeout=LEAD_S + (END - START).total_seconds() / SPEED + 120)
            if simulator.returncode != 0:
                raise RuntimeError(err.decode())
            published = re.search(rb"published (\d+) messages", out)
            if published is None:
                raise RuntimeError(out.decode())
            wait_for(lambda: messages_received(gw) == count_lines(recorded) >= int(published.group(1)), 60,
                     "the gateway and the recorder to receive the whole slice")
            reads: list[list[list[dict[str, Any]]]] = []

            def settled() -> bool:
                health = gw.get("/api/health")
                reads.append(_live_state(gw))
                if health["now"] != END.isoformat() or health["pending"]:
                    reads.clear()
                time.sleep(1.2)  # the pace of the reads: one pipeline tick apart
                return len(reads) >= 2 and reads[-1] == reads[-2]

            wait_for(settled, 60, "the live gateway to settle at the end of the slice")
        finally:
            if simulator is not None:
                stop_process(simulator)
            stop_process(recorder)
            gw.stop()
    with sqlite3.connect(tmp / "data" / "state.db") as db:
        journal = [(t, bytes(p), r) for t, p, r in
                   db.execute("SELECT topic, payload, received_at FROM journal ORDER BY seq")]
    messages = list(capture.read(recorded))
    if [(m.topic, m.payload) for m in messages] != [(t, p) for t, p, _ in journal]:
        raise RuntimeError("the gateway and the recorder took different messages; run it again")
    skew = max(abs(r - m.received_at.timestamp()) for (_, _, r), m in zip(journal, messages, strict=True))
    faults = [line.removeprefix("fault: ") for line in out.decode().splitlines() if line.startswith("fault: ")]
    live_tickets, live_rounds = reads[-1]
    record = {
        "about": "What the live gateway concluded while examples/demo-site/capture.jsonl was recorded "
                 "(python -m tests.support.demo_capture). tests/test_demo_capture.py replays the capture "
                 "and checks it against this.",
        "start": START.isoformat(), "end": END.isoformat(), "speed": SPEED, "rate": RATE, "seed": SEED,
        "messages": len(messages),
        "stamp_skew_s": round(skew, 3),  # site seconds; replayed non-patrol tickets open within it
        "faults_played": faults,
        "tickets": tickets_of(live_tickets),
        "rounds": rounds_of(live_rounds),
    }
    capture_out.write_bytes(recorded.read_bytes())
    live_out.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n")
    return record


def main() -> None:
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sitegate-capture-") as tmp:
        record = take(Path(tmp))
    print(f"{CAPTURE}: {record['messages']} messages, {CAPTURE.stat().st_size / 1e6:.2f} MB; "
          f"{len(record['tickets'])} live tickets, {len(record['rounds'])} rounds; stamps within "
          f"{record['stamp_skew_s']} site s; took {timedelta(seconds=round(time.monotonic() - began))}")


if __name__ == "__main__":
    main()


def run_timeline(anchor: float) -> list[str]:
    return timeline(START, SPEED, END, anchor)
