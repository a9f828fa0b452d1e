"""Every metric's name for people in both languages (gateway/devices/vocabulary.py `label`)."""

from __future__ import annotations

from gateway.devices.vocabulary import LABELS, METRICS, Label, label


def test_every_canonical_metric_has_both_languages() -> None:
    assert set(LABELS) == set(METRICS)
    assert label("pressure_mpa") == Label("Pressure", "压力", "MPa")
    assert label("smoke") == Label("Smoke", "烟雾", None)


def test_numbered_channels_are_named_from_their_metric() -> None:
    assert label("current_a_2") == Label("Current ch.2", "电流 2路", "A")
    assert label("power_w_12") == Label("Power draw ch.12", "功率 12路", "W")


def test_a_pass_through_name_is_made_readable() -> None:
    assert label("flow_rate_m3h") == Label("Flow rate m3h", "Flow rate m3h", None)
    assert label("co2") == Label("Co2", "Co2", None)
    assert label("level_3") == Label("Level 3", "Level 3", None)  # not a channel of a known metric
