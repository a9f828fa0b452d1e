"""MQTT 5 (an option; 3.1.1 is the default): persistent session across a restart, nothing lost."""

from __future__ import annotations

from pathlib import Path

from bench.traffic import native_lines, publish
from tests.support.gateway_proc import GatewayProcess, wait_for, write_site
from tests.support.mosquitto import Broker


def test_mqtt5_session_survives_a_restart_and_queued_messages_arrive(broker: Broker, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", site_id="v5", mqtt_url=broker.url,
                      extra="")
    text = site.read_text().replace(f'mqtt: {{url: "{broker.url}"}}',
                                    f'mqtt: {{url: "{broker.url}", protocol: "5", session_expiry_s: 3600}}')
    site.write_text(text)
    gw = GatewayProcess(site)
    gw.start()
    publish(broker.port, native_lines(500, site="v5"))
    wait_for(lambda: sum(d["messages"] for d in gw.get("/api/devices")) >= 500, 30, "first 500")
    assert gw.stop() == 0
    # While the gateway is away the broker keeps its session (SessionExpiryInterval) and queues.
    publish(broker.port, native_lines(500, site="v5", start=500))
    gw.start()
    wait_for(lambda: sum(d["messages"] for d in gw.get("/api/devices")) >= 1000, 30, "queued 500")
    assert sum(d["messages"] for d in gw.get("/api/devices")) == 1000
    assert gw.stop() == 0
    log = (tmp_path / "site" / "gateway.log").read_text()
    assert "(MQTT 5, persistent session)" in log and "session present: True" in log
    assert "sitegate-v5 (p5" in broker.log  # the broker saw an MQTT 5 client
