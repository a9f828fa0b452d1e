"""Rule timers survive a restart: a fire door open at shutdown still opens its ticket on time, once."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.app.features import attach_features
from gateway.core.clock import FakeClock
from gateway.core.model import Inbound
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway

T0 = datetime(2026, 11, 20, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def boot(tmp: Path, clock: FakeClock) -> tuple[Gateway, dict[str, Any]]:
    site = load_site(tmp / "site.yaml", Overrides(data=str(tmp / "data")))
    gw = Gateway(site, clock=clock, connect_mqtt=False)
    features = attach_features(gw, offline=True)
    gw.start(intake=False)  # the time-series store's thread: driven by hand from here
    return gw, features


def door_tickets(features: dict[str, Any]) -> list[dict[str, object]]:
    return [t.to_json() for t in features["tickets"].list(device="door-1") if t.rule == "fire.door_held_open"]


def test_a_pending_for_opens_its_ticket_on_time_and_once_after_a_restart(tmp_path: Path) -> None:
    (tmp_path / "assets.csv").write_text("device_id,kind,zone\ndoor-1,fire_door,b3\n")
    (tmp_path / "site.yaml").write_text("site: {id: t, timezone: Asia/Shanghai, latitude: 31.2, longitude: 121.5}\n"
                                        "inventory: assets.csv\n")
    clock = FakeClock(T0)
    gw, features = boot(tmp_path, clock)
    gw.pipeline.process([Inbound("zigbee2mqtt/door-1", b'{"contact": false}', T0.timestamp())])
    clock.set(T0 + timedelta(minutes=2))
    gw.pipeline.tick()
    assert door_tickets(features) == []  # pending: fire.door_held_open needs 300 s
    gw.stop()  # snapshots the rule engine with the journal position

    clock.set(T0 + timedelta(minutes=4))
    gw, features = boot(tmp_path, clock)
    gw.pipeline.tick()
    assert door_tickets(features) == []
    clock.set(T0 + timedelta(minutes=6))
    gw.pipeline.tick()
    gw.pipeline.tick()
    [ticket] = door_tickets(features)
    assert datetime.fromisoformat(str(ticket["opened_at"])) == T0 + timedelta(minutes=5)  # on time
    gw.stop()
