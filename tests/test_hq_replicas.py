"""Two `sitegate hq` replicas on one mosquitto (MQTT 5 shared subscription) and one PostgreSQL: a
few thousand events for five sites, some sent twice and out of order, one replica killed with
kill -9 mid-stream and started again. Every event is stored exactly once, /api/sites shows the counts
worked out from what was published, and both replicas answer the same pages."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.fleet import samples
from gateway.fleet.store import FleetStore
from tests.support import postgres
from tests.support.gateway_proc import wait_for
from tests.support.hq_proc import HqProcess, write_hq
from tests.support.mosquitto import mosquitto

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)  # the replicas' clock starts here (--start)
SITES = [f"site-{i}" for i in range(1, 6)]
ACTIVE = ("open", "acknowledged")


@dataclass
class Truth:
    """What was published, and the figures it implies, worked out here independently of the code."""

    events: list[dict[str, Any]] = field(default_factory=list)
    open: dict[str, int] = field(default_factory=dict)
    critical: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    offline: dict[str, int] = field(default_factory=dict)
    last_heard: dict[str, datetime] = field(default_factory=dict)


def fleet(seed: int = 15) -> Truth:
    rng = random.Random(seed)
    truth = Truth()
    for site in SITES:
        counts = {"open": 0, "critical": 0, "overdue": 0, "offline": 0}
        for n in range(1, 161):
            revisions = rng.randint(1, 5)
            final = rng.choice(["open", "acknowledged", "closed", "resolved"])
            severity = rng.choice(["critical", "major", "minor", "warning"])
            late = rng.random() < 0.4
            due = NOW - timedelta(days=1) if late else NOW + timedelta(days=1)
            opened = NOW - timedelta(days=2, minutes=n)
            for rev in range(1, revisions + 1):
                status = final if rev == revisions else "open"
                data = samples.ticket(f"T-{n:04d}", opened_at=opened, status=status, severity=severity,
                                      revision=rev, deadlines={"respond": due})
                truth.events.append(samples.ticket_event(site, data, opened + timedelta(minutes=rev)))
            if final in ACTIVE:
                counts["open"] += 1
                counts["critical"] += severity == "critical"
                counts["overdue"] += late
        for d in range(40):
            first = NOW - timedelta(hours=3, minutes=d)
            online_now = rng.random() < 0.8
            truth.events.append(samples.device_event(site, f"lamp-{d}", online=not online_now, since=first))
            truth.events.append(samples.device_event(site, f"lamp-{d}", online=online_now,
                                                     since=first + timedelta(hours=1)))
            counts["offline"] += not online_now
        for r in range(10):
            start = NOW - timedelta(days=r, hours=11)
            truth.events.append(samples.round_event(site, f"night-{r}", scheduled_start=start, expected=12,
                                                    visited=rng.randint(6, 12), at=start + timedelta(hours=1)))
        for m in range(20):
            truth.events.append(samples.health_event(site, NOW - timedelta(minutes=m), timeliness_month=0.95))
        truth.open[site], truth.critical[site] = counts["open"], counts["critical"]
        truth.overdue[site], truth.offline[site] = counts["overdue"], counts["offline"]
        truth.last_heard[site] = NOW
    return truth


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if not postgres.available():
        pytest.skip(f"PostgreSQL 15 server binaries not found in {postgres.PG_BIN}")
    with postgres.postgres() as url:
        yield url


def received(replica: HqProcess) -> float:
    text = httpx.get(replica.url + "/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("sitegate_hq_events_received_total"))
    return float(line.split()[-1])


def publisher(url: str) -> mqtt.Client:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-sites", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(200)
    client.connect(host, int(port))
    client.loop_start()
    return client


def test_two_replicas_store_every_event_once_through_a_kill9(tmp_path: Path, pg_url: str) -> None:
    truth = fleet()
    rng = random.Random(7)
    stream = truth.events + rng.sample(truth.events, len(truth.events) // 10)  # a tenth sent twice
    rng.shuffle(stream)  # and everything out of order
    assert len(stream) > 3000
    with mosquitto(tmp_path / "broker") as broker:
        config = write_hq(tmp_path / "hq", mqtt_url=broker.url, sites=SITES)
        replicas = [HqProcess(config, name, database=pg_url, args=["--start", NOW.isoformat()])
                    for name in ("a", "b")]
        client = publisher(broker.url)
        try:
            for r in replicas:
                r.start()
            half = len(stream) // 2
            infos = [client.publish(samples.topic(e["site"], samples.kind_of(e)), samples.encode(e), qos=1)
                     for e in stream[:half]]
            # Kill replica a once it is taking events, so it dies with some received and not acknowledged.
            wait_for(lambda: received(replicas[0]) > 0, 30, "replica a taking events")
            replicas[0].kill9()
            infos += [client.publish(samples.topic(e["site"], samples.kind_of(e)), samples.encode(e), qos=1)
                      for e in stream[half:]]
            for info in infos:
                info.wait_for_publish(30)
            replicas[0].start()  # the same replica name: its session, and what it had not acknowledged

            store = FleetStore(pg_url)
            expected_ids = {e["id"] for e in truth.events}
            wait_for(lambda: store.event_count() >= len(expected_ids), 60, "every event stored")
            stored = store.event_ids()
            store.close()
            assert len(stored) == len(set(stored)) == len(expected_ids)
            assert set(stored) == expected_ids

            pages = [r.get("/api/sites") for r in replicas]
            for rows in pages:
                by = {row["site"]: row for row in rows}
                assert set(by) == set(SITES)
                for site in SITES:
                    row = by[site]
                    assert (row["open_tickets"], row["critical_tickets"], row["overdue_tickets"],
                            row["devices_offline"]) == (truth.open[site], truth.critical[site],
                                                        truth.overdue[site], truth.offline[site]), site
                    assert row["last_heard"] == truth.last_heard[site].isoformat()
                    assert row["status"] == ("red" if truth.critical[site] or truth.overdue[site] else "amber")
            assert pages[0] == pages[1]
            assert replicas[0].get("/api/tickets", site="site-3") == replicas[1].get("/api/tickets", site="site-3")
            assert replicas[0].get("/api/sites/site-2") == replicas[1].get("/api/sites/site-2")
            text = httpx.get(replicas[1].url + "/metrics").text
            assert "sitegate_hq_events_stored_total" in text and "sitegate_hq_events_duplicates_total" in text
        finally:
            client.loop_stop()
            client.disconnect()
            for r in replicas:
                r.stop()


def test_the_example_file_runs_on_sqlite_and_bad_messages_become_dead_letters(tmp_path: Path) -> None:
    """`sitegate hq --config examples/headoffice/hq.yaml` as shipped (SQLite in --data), one replica."""
    example = Path(__file__).resolve().parent.parent / "examples" / "headoffice" / "hq.yaml"
    with mosquitto(tmp_path / "broker") as broker:
        hq = HqProcess(example, "solo", args=["--mqtt-url", broker.url, "--data", str(tmp_path / "data"),
                                              "--start", NOW.isoformat()], log=tmp_path / "hq.log")
        client = publisher(broker.url)
        try:
            hq.start()
            assert hq.get("/api/health")["database"] == "sqlite"
            good = samples.ticket_event("harbor-view", samples.ticket("T-1", opened_at=NOW, severity="critical"), NOW)
            for topic, payload in [("sitegate/harbor-view/events/ticket", b"not json"),
                                   ("sitegate/harbor-view/events/ticket", samples.encode(good)),
                                   ("sitegate/harbor-view/events/ticket", samples.encode(good))]:
                client.publish(topic, payload, qos=1).wait_for_publish(10)
            wait_for(lambda: hq.get("/api/deadletters") and hq.get("/api/sites/harbor-view")["open_tickets"] == 1,
                     20, "the ticket stored and the bad message dead-lettered")
            [letter] = hq.get("/api/deadletters")
            assert letter["reason"] == "bad_json" and letter["payload"] == "not json"
            rows = {r["site"]: r for r in hq.get("/api/sites")}
            assert rows["harbor-view"]["name"] == "海景花园 Harbor View" and rows["harbor-view"]["status"] == "red"
            assert rows["river-park"]["status"] == "unknown"  # listed in the file, never heard from
            metrics = httpx.get(hq.url + "/metrics").text
            wait_for(lambda: 'sitegate_hq_events_duplicates_total 1.0' in httpx.get(hq.url + "/metrics").text, 10,
                     "the second copy counted as a duplicate")
            assert 'sitegate_hq_events_rejected_total{reason="bad_json"} 1.0' in metrics
            assert (tmp_path / "data" / "hq.db").exists()
        finally:
            client.loop_stop()
            client.disconnect()
            assert hq.stop() == 0
