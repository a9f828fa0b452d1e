"""Head office under the event streams of 1,000 simulated sites (issue 15).

    .venv/bin/python bench/bench_hq.py [--sites 1000] [--per-site 20]

A real mosquitto and a real PostgreSQL; `sitegate hq` replicas as processes (MQTT 5 shared
subscription, manual ack after the group commit). A publisher process sends each site's stream (QoS1)
as fast as the broker takes it; the clock runs from the first publish until PostgreSQL holds every
event. Phase 1: one replica. Phase 2 (same run, new events): two replicas. Then the bytes PostgreSQL
uses per stored event (every hq table and index, `pg_total_relation_size`), extrapolated to a
site-month with the figure documented in EVENTS_PER_SITE_MONTH, and each replica's peak RSS.

A site's stream has the mix of a real month (below): mostly the once-a-minute health event, then
ticket revisions, device state changes and finished rounds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.fleet import samples
from gateway.fleet.store import FleetStore
from tests.support import postgres
from tests.support.hq_proc import HqProcess, write_hq
from tests.support.mosquitto import SITE_SETTINGS, mosquitto

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 1, 0, 0, tzinfo=TZ)
# One site-month (30 days), as a site gateway publishes it (docs/headoffice.md):
#   gateway.health once a minute                      43,200
#   tickets: 150 a month x 5 revisions (opened, accepted, arrived, resolved, closed)   750
#   device.state changes: 300 devices, ~1 change each           300
#   round.finished: 5 night routes x 30 nights                   150
EVENTS_PER_SITE_MONTH = 43_200 + 750 + 300 + 150
MIX = {"health": 43_200, "ticket": 750, "device": 300, "round": 150}


def site_stream(site: str, n: int, phase: int) -> list[dict[str, Any]]:
    """`n` events of one site in the month's mix (at least one of each kind)."""
    out: list[dict[str, Any]] = []
    total = sum(MIX.values())
    counts = {k: max(1, round(n * v / total)) for k, v in MIX.items()}
    counts["health"] = max(1, n - counts["ticket"] - counts["device"] - counts["round"])
    base = T0 + timedelta(days=phase * 3)
    for m in range(counts["health"]):
        out.append(samples.health_event(site, base + timedelta(minutes=m), timeliness_month=0.96,
                                        open_tickets=3, overdue_tickets=0, critical_tickets=0,
                                        devices_total=300, devices_offline=1))
    for r in range(counts["ticket"]):
        tid, rev = f"T-{phase}{r // 5:04d}", r % 5 + 1
        data = samples.ticket(tid, opened_at=base, revision=rev, status="open" if rev < 5 else "closed",
                              deadlines={"respond": base + timedelta(hours=2), "resolve": base + timedelta(hours=24)})
        out.append(samples.ticket_event(site, data, base + timedelta(minutes=rev)))
    for d in range(counts["device"]):
        out.append(samples.device_event(site, f"dev-{d}", online=d % 2 == 0, since=base + timedelta(seconds=d)))
    for r in range(counts["round"]):
        start = base + timedelta(hours=20 + r)
        out.append(samples.round_event(site, f"night-{phase}-{r}", scheduled_start=start, expected=12, visited=11,
                                       at=start + timedelta(minutes=50)))
    return out


def publish(url: str, sites: int, per_site: int, phase: int) -> None:
    """In its own process: every site's stream, interleaved site by site, QoS1."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sites-{phase}", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    streams = [site_stream(f"site-{s:04d}", per_site, phase) for s in range(sites)]
    last = None
    for i in range(per_site):
        for stream in streams:
            if i < len(stream):
                e = stream[i]
                last = client.publish(samples.topic(e["site"], samples.kind_of(e)), samples.encode(e), qos=1)
    if last is not None:
        last.wait_for_publish(300)
    client.loop_stop()
    client.disconnect()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_phase(store: FleetStore, url: str, replicas: list[HqProcess], sites: int, per_site: int, phase: int,
              before: int) -> tuple[int, float, float]:
    """Publish the phase's events while the replicas are stopped (their persistent sessions, in the
    shared group, queue them at the broker), then start the replicas together and time the drain from
    the first stored event to the last. Returns (events, seconds, publish seconds)."""
    expected = before + sites * per_site
    proc = multiprocessing.get_context("spawn").Process(target=publish, args=(url, sites, per_site, phase))
    started = time.perf_counter()
    proc.start()
    proc.join(900)
    published = time.perf_counter() - started
    for r in replicas:
        r.launch()
    t0, first = 0.0, before
    while (count := store.event_count()) < expected:
        if count > before and not t0:
            t0, first = time.perf_counter(), count
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    for r in replicas:
        r.wait_ready()
    return expected - first, elapsed, published


def pg_bytes(store: FleetStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'hq_%%'").scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--per-site", type=int, default=20, help="events per site in each phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hq-") as tmp, postgres.postgres() as db, \
            mosquitto(Path(tmp) / "broker", SITE_SETTINGS) as broker:
        # Keep every event: the streams are dated November 2026 and would otherwise be pruned as old.
        config = write_hq(Path(tmp) / "hq", mqtt_url=broker.url, extra="retention: {health_events: 0s}\n")
        store = FleetStore(db)
        a = HqProcess(config, "a", database=db, log=Path(tmp) / "a.log")
        b = HqProcess(config, "b", database=db, log=Path(tmp) / "b.log")
        try:
            a.start()  # a's session joins the shared group; then it stops and the broker queues for it
            a.stop()
            n1, s1, p1 = run_phase(store, broker.url, [a], args.sites, args.per_site, 1, 0)
            rss_a1 = peak_rss_mb(a.proc.pid) if a.proc else float("nan")
            b.start()
            for p in (a, b):
                p.stop()
            n2, s2, p2 = run_phase(store, broker.url, [a, b], args.sites, args.per_site, 2, store.event_count())
            rss = [peak_rss_mb(p.proc.pid) if p.proc else float("nan") for p in (a, b)]
            size = pg_bytes(store)
            events = store.event_count()
        finally:
            for p in (a, b):
                p.stop()
            store.close()
    per_event = size / events
    print(f"sites {args.sites}, {args.per_site} events per site per phase, PostgreSQL 15 (fsync off), mosquitto 2")
    print(f"publishing (QoS1, one paho process building its streams too, replicas stopped): {n1 / p1:.0f} and "
          f"{n2 / p2:.0f} events/s")
    print(f"one replica : {n1:>7} events in {s1:6.1f} s = {n1 / s1:8.0f} events/s   (peak RSS {rss_a1:.0f} MB)")
    print(f"two replicas: {n2:>7} events in {s2:6.1f} s = {n2 / s2:8.0f} events/s   "
          f"(peak RSS a {rss[0]:.0f} MB, b {rss[1]:.0f} MB)")
    print(f"PostgreSQL: {size / 1e6:.1f} MB for {events} events = {per_event:.0f} bytes/event "
          "(all hq tables and indexes)")
    print(f"per site-month ({EVENTS_PER_SITE_MONTH} events): {per_event * EVENTS_PER_SITE_MONTH / 1e6:.1f} MB; "
          f"1,000 sites: {per_event * EVENTS_PER_SITE_MONTH * 1000 / 1e9:.1f} GB a month")


if __name__ == "__main__":
    main()
