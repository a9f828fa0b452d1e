"""Head office end to end, on real servers only: three site gateways, each on its own mosquitto
bridged (examples/headoffice/mosquitto-site-bridge.conf) to the head-office mosquitto
(mosquitto-hq.conf); two `sitegate hq` replicas sharing the events (MQTT 5 shared subscription) into
one PostgreSQL; every site writing its time series to VictoriaMetrics (the InfluxDB write API).

Faults are driven at every site; the head-office broker is stopped for 60 s in the middle of the
stream and one replica is killed with kill -9 (systemd would restart it; so does the test). The
independent truth is each site's own ticket API: every change of every ticket (revisions 1..n) must
be stored exactly once in PostgreSQL, and the fleet page in headless Chromium must show each site's
own counts.

A limit of the broker, measured here: Debian's mosquitto 2.0.11 restores a persistent session's
shared subscription after a restart but does not queue for it while its client is away, so events
that reach a restarted head-office broker before any replica has reconnected are dropped (plain
subscriptions are kept; docs/deployment.md shows the commands that reproduce it). One replica keeps
a plain persistent subscription beside the shared one (`--catchup`): the broker queues the events
for it, and the store keeps each once. The bridges here retry within 1-2 s, so they are usually
back before the replicas: the window the catch-up subscription closes is exercised on every run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import postgres
from tests.support.browser import NO_NETWORK, available, chromium
from tests.support.gateway_proc import GatewayProcess, wait_for, write_site
from tests.support.headoffice import ConfBroker, hq_broker, site_broker
from tests.support.hq_proc import HqProcess, write_hq
from tests.support.victoria import Victoria

# Site id -> (low extinguishers, smoke alarms): different counts per site, so a mix-up shows.
SITES = {"harbor-view": (1, 0), "river-park": (2, 0), "hill-court": (3, 1)}
OUTAGE_S = 60
ACTIVE = ("open", "acknowledged")

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.skipif(not postgres.available(), reason="PostgreSQL is not installed (make system-deps)")]


class Site:
    """One site: its broker (bridged to head office), its gateway, and a device client on its broker."""

    def __init__(self, site_id: str, dir: Path, hq: ConfBroker, vm: Victoria) -> None:
        self.id = site_id
        self.broker = site_broker(dir / "broker", hq, client_id=f"sitegate-bridge-{site_id}")
        low, smoke = SITES[site_id]
        self.extinguishers = [f"ext-{i:02d}" for i in range(1, 5)]
        self.low = self.extinguishers[:low]
        self.detectors = [f"smoke-{i:02d}" for i in range(1, 3)]
        self.alarms = self.detectors[:smoke]
        (dir / "gw").mkdir(parents=True)
        (dir / "gw" / "token").write_text("not-a-real-token\n")
        (dir / "gw" / "assets.csv").write_text(
            "device_id,kind,zone\n" + "".join(f"{d},extinguisher,b1\n" for d in self.extinguishers)
            + "".join(f"{d},smoke_detector,b2\n" for d in self.detectors))
        self.config = write_site(dir / "gw", site_id=site_id, mqtt_url=self.broker.url, extra=(
            "inventory: assets.csv\n"
            "events: {enabled: true}\n"
            "timeseries:\n  embedded: true\n"
            f"  influxdb: {{url: \"{vm.url}\", org: estate, bucket: sites, token_file: token}}\n"))
        self.gateway = GatewayProcess(self.config)
        self.devices: mqtt.Client | None = None

    def start(self) -> None:
        self.broker.start()
        self.gateway.start()
        self.devices = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"devices-{self.id}")
        self.devices.connect("127.0.0.1", self.broker.port)
        self.devices.loop_start()

    def send(self, device: str, reading: dict[str, Any]) -> None:
        assert self.devices is not None
        self.devices.publish(f"sitegate/{self.id}/{device}/telemetry", orjson.dumps(reading), qos=1).wait_for_publish(5)

    def healthy_readings(self) -> None:
        for d in self.extinguishers:
            self.send(d, {"pressure_mpa": 1.22})
        for d in self.detectors:
            self.send(d, {"smoke": False, "battery_pct": 90})

    def faults(self) -> None:
        for d in self.low:
            self.send(d, {"pressure_mpa": 0.55})
        for d in self.alarms:
            self.send(d, {"smoke": True})

    def recoveries(self) -> None:
        """The first low extinguisher is refilled: its ticket changes again (the stream goes on)."""
        self.send(self.low[0], {"pressure_mpa": 1.25})

    def tickets(self) -> list[dict[str, Any]]:
        return list(self.gateway.get("/api/tickets", limit=5000))

    def stop(self) -> None:
        if self.devices is not None:
            self.devices.loop_stop()
            self.devices.disconnect()
        self.gateway.stop()
        self.broker.stop()


def expected_event_ids(sites: list[Site]) -> set[str]:
    """Every change of every ticket, from the sites' own APIs: `<site>/ticket/<id>/<revision>`."""
    return {f"{s.id}/ticket/{t['id']}/{r}" for s in sites for t in s.tickets() for r in range(1, t["revision"] + 1)}


def stored_ticket_events(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            return [row[0] for row in db.execute(sa.text("SELECT id FROM hq_events WHERE kind = 'ticket'"))]
    finally:
        engine.dispose()


@pytest.fixture
def database() -> Iterator[str]:
    with postgres.postgres() as url:
        yield url


def test_three_sites_reach_two_replicas_through_an_outage_and_a_kill_9_exactly_once(
        tmp_path: Path, vm: Victoria, database: str) -> None:
    hq_mq = hq_broker(tmp_path / "hq-broker")
    hq_mq.start()
    sites = [Site(site_id, tmp_path / site_id, hq_mq, vm) for site_id in SITES]
    hq_file = write_hq(tmp_path / "hq", mqtt_url=hq_mq.url, sites=list(SITES))
    # b also holds the catch-up subscription; a is the one killed.
    replicas = [HqProcess(hq_file, "a", database=database), HqProcess(hq_file, "b", database=database,
                                                                      args=["--catchup"])]
    try:
        for site in sites:
            site.start()
        for replica in replicas:
            replica.start()
        for site in sites:
            site.healthy_readings()
        # Phase 1, line up: the first faults at every site reach head office at once.
        for site in sites:
            site.faults()
        wait_for(lambda: set(stored_ticket_events(database)) == expected_event_ids(sites) != set(), 60,
                 "the first tickets of every site at head office")
        before = len(stored_ticket_events(database))

        # Phase 2, the head-office broker is down for 60 s while the sites keep concluding.
        hq_mq.stop()
        for site in sites:
            site.recoveries()
        opened_meanwhile = {s.id: len(s.tickets()) for s in sites}
        time.sleep(OUTAGE_S)
        assert len(stored_ticket_events(database)) == before  # nothing could arrive meanwhile
        # It returns, and in the middle of the flood of queued events one replica dies by kill -9.
        hq_mq.start()
        killer = threading.Timer(0.5, replicas[0].kill9)
        killer.start()
        killer.join()
        time.sleep(3)
        replicas[0].start()  # systemd's Restart=always: its persistent session gives back what it had not acked

        with contextlib.suppress(TimeoutError):  # the comparison below says which are missing
            wait_for(lambda: set(stored_ticket_events(database)) == expected_event_ids(sites), 90,
                     "every ticket change of every site stored at head office")
        stored, expected = stored_ticket_events(database), expected_event_ids(sites)
        assert set(stored) == expected, (f"missing {sorted(expected - set(stored))[:12]}, "
                                         f"unexpected {sorted(set(stored) - expected)[:12]}")
        assert len(stored) == len(set(stored)), "an event stored twice"
        assert len(stored) > before and opened_meanwhile

        # The fleet API of both replicas says what each site's own API says.
        truth = {}
        for site in sites:
            mine = site.tickets()
            truth[site.id] = {"open_tickets": sum(t["status"] in ACTIVE for t in mine),
                              "critical_tickets": sum(t["status"] in ACTIVE and t["severity"] == "critical"
                                                      for t in mine)}
        assert [truth[s]["open_tickets"] for s in SITES] != [truth["harbor-view"]["open_tickets"]] * 3
        for replica in replicas:
            rows = {r["site"]: r for r in replica.get("/api/sites")}
            assert {s: {k: rows[s][k] for k in ("open_tickets", "critical_tickets")} for s in SITES} == truth
            for site in sites:
                theirs = {t["id"]: t["revision"] for t in replica.get("/api/tickets", site=site.id)}
                assert theirs == {t["id"]: t["revision"] for t in site.tickets()}

        # Time series: one bucket, every site told apart by its tag.
        wait_for(lambda: {s["metric"]["site"] for s in vm.export("reading_pressure_mpa")} == set(SITES), 30,
                 "every site's readings in VictoriaMetrics with its site tag")

        # The fleet page in a real browser shows each site's counts.
        if available() is None:
            with chromium(tmp_path / "shots", flags=NO_NETWORK) as browser:
                browser.open(replicas[1].url + "/")
                for site_id, figures in truth.items():
                    row = f'#sites tr[data-site="{site_id}"]'
                    browser.wait_for(lambda r=row, f=figures: all(  # type: ignore[misc]
                        browser.text(f'{r} td[data-col="{k}"]') == str(v) for k, v in f.items()), f"{site_id}'s counts")
                browser.screenshot("fleet")
    finally:
        for replica in replicas:
            replica.stop()
        for site in sites:
            site.stop()
        hq_mq.stop()
