"""What the gateway concluded from bench/profile_ingest.py's night, as JSON, to diff two trees byte
for byte: a change meant to save CPU must not change what the service produces.

The same demo-site traffic and batches on the same fake clock as profile_ingest.py, then dumped: the
ticket store's rows (tickets, history, suppressions, signals) and the tickets in their API form, every
`equipment_health` and `ticket_event` value in the embedded store, a digest of every stored point,
and every event on the bus (readings, devices, tickets), in order.

    PYTHONPATH=$PWD .venv/bin/python bench/dump_outputs.py /tmp/after.json [--messages 60000]
    (the same from the other tree to /tmp/before.json)
    cmp /tmp/before.json /tmp/after.json

One thing is made deterministic here that is not in the service: the emergency notices (smoke, the
night's 三级 alarm) go out on their own thread, which stamps its "notified" history entry with the
clock of that moment and lands it between the pipeline's writes as the threads happen to run. Here
that thread is not started and what it would send is sent on this thread at each batch's end.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import sqlite3
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.profile_ingest import demo_traffic
from gateway.app.features import attach_features
from gateway.core.clock import FakeClock
from gateway.core.model import Inbound
from gateway.core.paths import demo_site_dir
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.tickets.emergency_notify import EmergencyNotifier


def rows(db: Path, sql: str) -> list[list[Any]]:
    conn = sqlite3.connect(db)
    try:
        return [list(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def send_emergency_notices(notifier: EmergencyNotifier) -> None:
    """What the notifier's thread would do with what is scheduled, here and now (a bench-only hook)."""
    while notifier._schedule:
        notifier._attempt(heapq.heappop(notifier._schedule))


def points(db: Path, measurement: str) -> list[list[Any]]:
    return rows(db, "SELECT s.field, s.tags, r.ts, r.value FROM raw r JOIN series s ON s.id = r.series "
                    f"WHERE s.measurement = '{measurement}' ORDER BY s.field, s.tags, r.ts")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    out: dict[str, Any] = {}
    events: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        site = load_site(demo_site_dir() / "site.yaml", Overrides(data=tmp))
        start = datetime(2026, 12, 1, 19, 30, tzinfo=site.tz)
        traffic = demo_traffic(site, args.messages, start)
        clock = FakeClock(start)
        gw = Gateway(site, clock=clock, connect_mqtt=False)
        features: dict[str, Any] = attach_features(gw)
        tickets = features["tickets"]
        gw.bus.listen(lambda kind, data: events.append((kind, data)))
        tickets.emergency.start = lambda: None
        gw.start(intake=False)
        for i in range(0, len(traffic), args.batch):
            batch = traffic[i:i + args.batch]
            gw.pipeline.process([Inbound(m.topic, m.payload, m.ts.timestamp()) for m in batch])
            clock.set(max(clock.now(), batch[-1].ts))
            gw.pipeline.tick()
            send_emergency_notices(tickets.emergency)
        if not features["timeseries"].writer.flush(120):
            raise SystemExit("the time-series store did not take every point in 120 s")
        out["tickets_api"] = [t.to_json() for t in tickets.list(limit=100_000)]
        gw.stop()
        data = Path(tmp)
        ticket_db, series_db = next(data.rglob("tickets.db")), next(data.rglob("timeseries.db"))
        for table in ("tickets", "ticket_history", "ticket_suppressions", "ticket_signals"):
            out[table] = rows(ticket_db, f"SELECT * FROM {table} ORDER BY 1, 2")
        out["equipment_health"] = points(series_db, "equipment_health")
        out["ticket_event"] = points(series_db, "ticket_event")
        digest, n = hashlib.sha256(), 0
        for row in rows(series_db, "SELECT s.measurement, s.field, s.tags, r.ts, r.value FROM raw r "
                                   "JOIN series s ON s.id = r.series ORDER BY 1, 2, 3, 4"):
            digest.update(repr(row).encode())
            n += 1
        out["all_points"] = [n, digest.hexdigest()]
    out["events"] = events
    args.out.write_text(json.dumps(out, indent=1, sort_keys=True, default=str))
    print(f"{len(out['tickets'])} tickets, {len(out['ticket_history'])} history rows, "
          f"{len(out['equipment_health'])} equipment_health values, {n:,} stored points, {len(events):,} events "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
