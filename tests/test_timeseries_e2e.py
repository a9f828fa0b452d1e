"""The gateway writes its measurements to a real `/api/v2/write` server (VictoriaMetrics), and
loses nothing while the server is down, even across a kill -9 of the gateway."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.traffic import publish
from tests.support.gateway_proc import GatewayProcess, wait_for, write_site
from tests.support.mosquitto import Broker
from tests.support.victoria import Victoria
from tests.test_ingest_e2e import SAMPLES, publish_captures


def influx_site(tmp: Path, broker: Broker, vm: Victoria) -> Path:
    (tmp / "site").mkdir(parents=True, exist_ok=True)
    (tmp / "site" / "token").write_text("not-a-real-token\n")
    # A registered device carries its kind and zone as tags (an unregistered one: unknown, unassigned).
    (tmp / "site" / "assets.csv").write_text("device_id,kind,zone\next-b1-1f-01,extinguisher,b1\n")
    return write_site(tmp / "site", site_id="demo", mqtt_url=broker.url, extra=(
        "inventory: assets.csv\n"
        "timeseries:\n  embedded: true\n"
        f"  influxdb: {{url: \"{vm.url}\", org: estate, bucket: sites, token_file: token}}\n"))


def total(gw: GatewayProcess) -> int:
    return int(sum(d["messages"] for d in gw.get("/api/devices")))


def test_readings_arrive_with_contract_names_tags_and_values(broker: Broker, vm: Victoria, tmp_path: Path) -> None:
    gw = GatewayProcess(influx_site(tmp_path, broker, vm))
    gw.start()
    try:
        publish_captures(broker.port, sorted(SAMPLES.glob("*.jsonl")))
        assert vm.wait_count(2, 'reading_pressure_mpa{device="ext-b1-1f-01"}') == 2
        assert vm.wait_count(2, 'reading_door_open{device="B3-firedoor-2F"}') == 2
        [pressure] = vm.export('reading_pressure_mpa{device="ext-b1-1f-01"}')
        assert pressure["metric"] == {"__name__": "reading_pressure_mpa", "device": "ext-b1-1f-01", "site": "demo",
                                      "kind": "extinguisher", "zone": "b1"}
        # The samples carry no device time, so both are stamped on arrival, possibly in the same
        # millisecond (VictoriaMetrics keeps milliseconds): compare as sets.
        assert sorted(pressure["values"]) == [0.71, 1.22]
        [door] = vm.export('reading_door_open{device="B3-firedoor-2F"}')
        assert sorted(door["values"]) == [0, 1]  # contact true (closed), then false (open)
        assert vm.export('reading_current_a_2{device="panel-b2"}')[0]["values"] == [0]
        # The embedded store answers the same reading over the API.
        # They were stamped on arrival, so the window is around now, whatever today's date is.
        now = datetime.now(UTC)
        window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
        answer = gw.get("/api/series", measurement="reading", field="pressure_mpa", device="ext-b1-1f-01",
                        **window)
        assert [p[1] for p in answer["points"]] == [1.22, 0.71]
        health = gw.get("/api/health")
        assert health["timeseries"] == "ok"
    finally:
        assert gw.stop() == 0


def test_50000_readings_while_the_server_is_down_with_a_kill_9_arrive_once(
        broker: Broker, vm: Victoria, tmp_path: Path) -> None:
    n = 50_000
    vm.stop()
    gw = GatewayProcess(influx_site(tmp_path, broker, vm))
    gw.start()
    done = threading.Event()

    # Each message carries its own time, so each is a distinct sample of its series. The times start
    # an hour ago (inside the decoder's plausibility window whatever today's date is) and stay unique.
    first = int(time.time()) - 3600

    def stream() -> None:
        lines = ((f"sitegate/demo/ext-{i % 20:02d}/telemetry",
                  f'{{"pressure_mpa": 1.2, "ts": {first + i // 20}}}'.encode()) for i in range(n))
        publish(broker.port, lines)
        done.set()

    publisher = threading.Thread(target=stream)
    publisher.start()
    wait_for(lambda: total(gw) > n // 3, 120, "a third of the readings")
    wait_for(lambda: gw.get("/api/health")["timeseries"] != "ok", 30, "health to say the server is down")
    gw.kill9()
    publisher.join(180)
    assert done.is_set()
    gw.start()  # restarted while the server is still down: the spool survived
    wait_for(lambda: total(gw) >= n, 180, "every reading processed")
    vm.start()
    got = vm.wait_count(n, "reading_pressure_mpa", timeout=120)
    assert got == n  # all arrived, none twice (VictoriaMetrics here keeps duplicate samples)
    wait_for(lambda: gw.get("/api/health")["timeseries"] == "ok", 60, "health back to ok")
    assert gw.stop() == 0
