"""The events feature attaches only where it may reach the outside world: a gateway with a broker,
not replay (offline) nor a gateway without MQTT, and not when the site file switches it off."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app.features import attach_features
from gateway.core.siteload import load_site
from gateway.events.feature import Events, timeliness
from gateway.ingest.gateway import Gateway

SITE = """site: {{id: ev, name: Events 事件, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}}
mqtt: {{url: "mqtt://127.0.0.1:1"}}
storage: {{path: {data}}}
{extra}"""


def gateway(tmp_path: Path, *, extra: str = "", connect_mqtt: bool = True) -> Gateway:
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(data=tmp_path / "data", extra=extra))
    return Gateway(load_site(site), connect_mqtt=connect_mqtt)


@pytest.mark.parametrize(("extra", "connect_mqtt", "offline"), [
    ("", True, True),  # replay: never reaches the outside world
    ("", False, False),  # no broker
    ("events: {enabled: false}\n", True, False),
])
def test_no_events_in_replay_without_a_broker_or_when_switched_off(
        tmp_path: Path, extra: str, connect_mqtt: bool, offline: bool) -> None:
    gw = gateway(tmp_path, extra=extra, connect_mqtt=connect_mqtt)
    attach_features(gw, offline=offline)
    assert gw.features["events"] is None
    assert not (tmp_path / "data" / "events.db").exists()
    assert "events" not in gw.health()


def test_on_by_default_with_its_outbox_in_the_data_folder(tmp_path: Path) -> None:
    gw = gateway(tmp_path)
    attach_features(gw)
    events = gw.features["events"]
    assert isinstance(events, Events)
    assert (tmp_path / "data" / "events.db").exists()
    assert gw.health()["events"] == "disconnected"  # not started: nothing connects in a constructor
    events.outbox.close()


def test_timeliness_is_on_time_over_judged_across_stages() -> None:
    stages = {"respond": {"on_time": 18, "late": 1, "pending": 4}, "arrive": {"on_time": 0, "late": 0, "pending": 0},
              "resolve": {"on_time": 1, "late": 0, "pending": 2}}
    assert timeliness({"stages": stages}) == pytest.approx(19 / 20)
    assert timeliness({"stages": {"respond": {"on_time": 0, "late": 0, "pending": 3}}}) is None
