"""Which rules watch a device and their thresholds in words (gateway/rules/describe.py), from the
built-in pack as loaded: the figures below are the pack's params (rules/*.yaml), read by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.core.paths import rules_dir
from gateway.rules.describe import applies, describe
from gateway.rules.loader import load_rules
from gateway.rules.schema import Rule

PACK = load_rules([rules_dir()])


def rule(rule_id: str) -> Rule:
    return next(r for r in PACK if r.id == rule_id)


def watching(device: str, kind: str, zone: str, metrics: list[str]) -> set[str]:
    return {r.id for r in PACK if applies(r, device=device, kind=kind, zone=zone, metrics=metrics)}


def test_an_extinguishers_rules_are_its_kinds_and_every_devices_not_a_lamps() -> None:
    ids = watching("ext-1", "extinguisher", "b1", ["pressure_mpa", "battery_pct"])
    assert {"fire.extinguisher_low", "fire.extinguisher_high", "fire.extinguisher_leak", "fire.battery_low",
            "health.offline", "health.silent"} <= ids
    # Rules about a metric for any kind apply only to a device that reports it: no smoke sensor here.
    assert not ids & {"lighting.lamp_out", "fire.smoke", "fire.detector_tampered", "health.weak_signal",
                      "fire.hydrant_pressure_low"}
    assert "fire.smoke" in watching("smoke-1", "smoke_detector", "b1", ["smoke", "battery_pct"])


def test_a_channel_of_a_meter_counts_as_its_metric() -> None:
    assert "health.weak_signal" in watching("meter-1", "power_meter", "p", ["current_a_2", "signal"])
    assert "lighting.circuit_outage" in watching("meter-1", "power_meter", "p", ["current_a", "current_a_2"])


def test_a_threshold_reads_with_its_unit_and_severity() -> None:
    low = describe(rule("fire.extinguisher_low"))
    assert (low["condition"], low["clear"], low["for"], low["severity"]) == (
        "pressure_mpa < 1 MPa", "pressure_mpa > 1.1 MPa", None, "major")
    assert low["terms"] == [{"metric": "pressure_mpa", "sign": "<", "value": 1.0, "unit": "MPa"}]


def test_a_state_rule_with_its_window_and_for() -> None:
    out = describe(rule("lighting.lamp_out"))
    assert (out["condition"], out["during_text"], out["for"], out["for_s"], out["match"]) == (
        "current_a < 0.02 A or power_on = false", "sun below -4°", "10m", 600.0, "any")
    assert out["during"] == {"sun_below": -4.0}
    assert out["terms"][1] == {"metric": "power_on", "sign": "=", "value": False, "unit": None}


def test_silence_is_measured_against_the_kinds_heartbeat() -> None:
    out = describe(rule("health.silent"), timedelta(minutes=15))
    assert (out["condition"], out["after_s"]) == ("no message for 15m", 900.0)


@pytest.mark.parametrize(("rule_id", "text"), [
    ("fire.extinguisher_leak", "pressure_mpa changes < -0.01 MPa/h over 6h"),
    ("health.flapping", "online/offline changes > 6 times within 1h"),
    ("health.offline", "reports offline"),
])
def test_other_kinds_of_condition_in_words(rule_id: str, text: str) -> None:
    assert describe(rule(rule_id))["condition"] == text
