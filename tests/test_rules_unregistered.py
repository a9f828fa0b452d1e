"""A device's kind must be right before a kind-specific ticket opens: an unregistered device that
only looks like a kind raises one "register this device" warning, never a ticket of the guessed kind.

The whole gateway in this process, offline, on a fake clock: messages go through decode, registry,
rules and tickets exactly as they would from the broker."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.app.features import attach_features
from gateway.core.clock import FakeClock
from gateway.core.model import AlertEvent, Inbound
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.rules.unregistered import REGISTER_RULE, register_warning

T0 = datetime(2026, 11, 20, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "assets.csv").write_text("device_id,kind,zone\nhydrant-b2,hydrant,b2\n")
    (tmp_path / "site.yaml").write_text("site: {id: t, timezone: Asia/Shanghai, latitude: 31.2, longitude: 121.5}\n"
                                        "inventory: assets.csv\n")
    return tmp_path


def boot(tmp: Path, clock: FakeClock) -> tuple[Gateway, dict[str, Any]]:
    site = load_site(tmp / "site.yaml", Overrides(data=str(tmp / "data")))
    gw = Gateway(site, clock=clock, connect_mqtt=False)
    return gw, attach_features(gw, offline=True)


def send(gw: Gateway, clock: FakeClock, topic: str, payload: str) -> None:
    gw.pipeline.process([Inbound(topic, payload.encode(), clock.now().timestamp())])
    clock.advance(timedelta(minutes=1))
    gw.pipeline.tick()


def tickets(features: dict[str, Any]) -> list[dict[str, Any]]:
    return [t.to_json() for t in features["tickets"].list()]


def test_the_hydrant_ring_transmitter_raises_one_register_warning_and_no_extinguisher_ticket(site: Path) -> None:
    clock = FakeClock(T0)
    gw, features = boot(site, clock)
    # No 'hydrant' in its name: by its metric alone it looks like an extinguisher, whose red zone is
    # below 1.0 MPa. 0.28 MPa is normal on a hydrant ring main.
    for value in (0.28, 0.27, 0.28, 0.29):
        send(gw, clock, "sitegate/t/ring-pt-3/telemetry", f'{{"pressure_mpa": {value}, "battery": 90}}')
    [warning] = tickets(features)
    assert (warning["rule"], warning["device_id"], warning["severity"]) == (REGISTER_RULE, "ring-pt-3", "warning")
    assert "extinguisher" in warning["title"] and "register" in warning["description"].lower()
    assert warning["status"] == "open"
    view = gw.registry.view("ring-pt-3", clock.now())
    assert view is not None and (view["kind"], view["suggested_kind"]) == ("unknown", "extinguisher")
    gw.stop()

    # After a restart the same readings still give that one warning, not a second one.
    gw, features = boot(site, clock)
    send(gw, clock, "sitegate/t/ring-pt-3/telemetry", '{"pressure_mpa": 0.28}')
    assert [t["rule"] for t in tickets(features)] == [REGISTER_RULE]
    gw.stop()


def test_an_unregistered_device_with_values_normal_for_its_lookalike_raises_nothing(site: Path) -> None:
    clock = FakeClock(T0)
    gw, features = boot(site, clock)
    send(gw, clock, "sitegate/t/ext-unlisted/telemetry", '{"pressure_mpa": 1.25, "battery": 90}')
    send(gw, clock, "zigbee2mqtt/B3/2F/door", '{"contact": true, "battery": 90}')
    assert tickets(features) == []
    gw.stop()


def test_the_same_reading_on_a_registered_hydrant_is_healthy(site: Path) -> None:
    clock = FakeClock(T0)
    gw, features = boot(site, clock)
    send(gw, clock, "sitegate/t/hydrant-b2/telemetry", '{"pressure_mpa": 0.28}')
    send(gw, clock, "sitegate/t/hydrant-b2/telemetry", '{"pressure_mpa": 0.10}')  # low for a hydrant
    clock.advance(timedelta(minutes=3))  # past the rule's 2 min grace for pump start transients
    gw.pipeline.tick()
    assert [t["rule"] for t in tickets(features)] == ["fire.hydrant_pressure_low"]
    gw.stop()


def test_a_kind_the_device_declares_later_brings_its_rules(site: Path) -> None:
    # Heard first through its status topic (kind unknown), then its telemetry says what it is.
    clock = FakeClock(T0)
    gw, features = boot(site, clock)
    send(gw, clock, "sitegate/t/ext-7/status", "online")
    send(gw, clock, "sitegate/t/ext-7/telemetry", '{"kind": "extinguisher", "pressure_mpa": 0.8}')
    assert [t["rule"] for t in tickets(features)] == ["fire.extinguisher_low"]
    gw.stop()


def test_a_smoke_alarm_from_an_unregistered_detector_is_a_smoke_ticket(site: Path) -> None:
    clock = FakeClock(T0)
    gw, features = boot(site, clock)
    send(gw, clock, "zigbee2mqtt/B3/2F/smoke", '{"smoke": true, "battery": 90}')
    [ticket] = tickets(features)
    assert (ticket["rule"], ticket["device_id"], ticket["severity"]) == ("fire.smoke", "B3.2F.smoke", "critical")
    gw.stop()


def test_the_warning_says_what_the_device_looks_like_and_which_rule_would_have_fired() -> None:
    would = AlertEvent(rule="fire.extinguisher_low", device="ring-pt-3", zone="unassigned", state="firing",
                       severity="major", title="灭火器压力不足 Extinguisher pressure low: ring-pt-3", ts=T0,
                       value=0.28, kind="extinguisher")
    warning = register_warning(would)
    assert (warning.rule, warning.severity, warning.kind, warning.key) == (
        REGISTER_RULE, "warning", "unknown", f"{REGISTER_RULE}:ring-pt-3")
    assert warning.labels == {"looks_like": "extinguisher", "would_fire": "fire.extinguisher_low"}
    assert "0.28" in warning.description and "inventory" in warning.description
