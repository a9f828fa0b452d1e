"""The `sitegate rules test` runner: passing files pass, and every kind of mismatch fails at FILE:LINE."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.rules.testing import rules_test_main, run_rule_tests

RULES = """\
rules:
  - id: t.low
    match: {metric: pressure_mpa}
    condition: {type: threshold, below: 1.0}
    clear: {above: 1.1}
    for: 1m
    labels: {severity: major}
    annotations: {title: "Low {device}"}
"""

HEAD = """\
rule_files: [rules/t.yaml]
site: {timezone: Asia/Shanghai}
devices:
  - {id: ext-1, kind: extinguisher, zone: b1}
tests:
"""

# A heartbeat rule: a device of any kind that sends nothing for 10 minutes.
SILENT_RULE = """\
  - id: t.silent
    condition: {type: absent, after: 10m}
    labels: {severity: minor}
    annotations: {title: "Silent {device}"}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "t.yaml").write_text(RULES, encoding="utf-8")
    return tmp_path


def write_test(folder: Path, cases: str) -> Path:
    path = folder / "t_test.yaml"
    path.write_text(HEAD + cases, encoding="utf-8")
    return path


PASSING = """\
  - name: low pressure
    start: "2026-11-20T18:00:00+08:00"
    inputs:
      - {at: 0s, device: ext-1, metric: pressure_mpa, value: 0.8}
      - {at: "2026-11-20T18:05:00+08:00", device: ext-1, metric: pressure_mpa, value: 1.2}
    expect:
      - {at: 59s, firing: []}
      - at: 1m
        firing: [{rule: t.low, device: ext-1, severity: major, zone: b1, title: "Low ext-1", value: 0.8,
                  fired_at: "2026-11-20T18:01:00+08:00"}]
      - {at: 5m, firing: [], cleared: [{rule: t.low, device: ext-1}]}
"""


def test_a_correct_test_file_passes(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_test(folder, PASSING)
    assert run_rule_tests([path]) == []
    assert rules_test_main([path]) == 0
    assert "1 rule tests in 1 files: 1 passed, 0 failed" in capsys.readouterr().out


def test_a_missing_alert_fails_at_the_line_of_the_expected_alert(folder: Path) -> None:
    path = write_test(folder, PASSING.replace("{at: 59s, firing: []}",
                                             "{at: 59s, firing: [{rule: t.low, device: ext-1}]}"))
    (failure,) = run_rule_tests([path])
    assert failure.file == path and failure.line == 12 and failure.test == "low pressure"
    assert "expected t.low on ext-1 firing, it is not" in failure.message
    assert str(failure).startswith(f"{path}:12: [low pressure] at start+59s")


def test_an_unexpected_alert_and_a_wrong_field_and_a_wrong_time_all_fail(folder: Path) -> None:
    cases = PASSING.replace("{at: 5m, firing: [], cleared: [{rule: t.low, device: ext-1}]}",
                            "{at: 4m, firing: [], cleared: []}")
    cases = cases.replace("severity: major", "severity: minor").replace("18:01:00", "18:02:00")
    found = [str(f) for f in run_rule_tests([write_test(folder, cases)])]
    assert any(":14: " in f and "severity is 'major', expected 'minor'" in f for f in found), found
    assert any(":15: " in f and "fired at 2026-11-20T18:01:00+08:00, expected" in f for f in found), found
    assert any(":16: " in f and "t.low on ext-1 is firing but not expected" in f for f in found), found


def test_an_unexpected_clear_fails(folder: Path) -> None:
    cases = PASSING.replace("cleared: [{rule: t.low, device: ext-1}]", "cleared: []")
    (failure,) = run_rule_tests([write_test(folder, cases)])
    assert "cleared but that was not expected" in failure.message


def test_rules_scope_ignores_other_rules(folder: Path) -> None:
    cases = PASSING.replace('    start:', '    rules: [t.low]\n    start:')
    assert run_rule_tests([write_test(folder, cases)]) == []
    bad = PASSING.replace('    start:', '    rules: [t.nothing]\n    start:')
    (failure,) = run_rule_tests([write_test(folder, bad)])
    assert "t.nothing" in failure.message and failure.line == 7


def test_inputs_out_of_order_are_rejected_at_their_line(folder: Path) -> None:
    cases = PASSING.replace("{at: 0s, device", "{at: 10m, device")
    (failure,) = run_rule_tests([write_test(folder, cases)])
    assert failure.line == 10 and "time order" in failure.message


def test_relative_times_need_a_start(folder: Path) -> None:
    cases = PASSING.replace('    start: "2026-11-20T18:00:00+08:00"\n', "")
    (failure,) = run_rule_tests([write_test(folder, cases)])
    assert "needs the case's `start`" in failure.message


def test_a_malformed_test_file_reports_file_and_line(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = PASSING.replace("{at: 0s, device: ext-1, metric: pressure_mpa, value: 0.8}",
                            "{at: 0s, device: ext-1, metric: pressure_mpa}")
    path = write_test(folder, cases)
    (failure,) = run_rule_tests([path])
    assert failure.file == path and failure.line == 9 and "metric` and `value`" in failure.message
    assert rules_test_main([path]) == 1
    assert f"FAIL {path}:9:" in capsys.readouterr().out


def test_a_broken_rule_file_is_reported_in_its_own_file(folder: Path) -> None:
    (folder / "rules" / "t.yaml").write_text(RULES.replace("severity: major", "severity: huge"), encoding="utf-8")
    (failure,) = run_rule_tests([write_test(folder, PASSING)])
    assert failure.file == folder / "rules" / "t.yaml" and failure.line == 7


def test_repeated_inputs_keep_a_device_alive(folder: Path) -> None:
    (folder / "rules" / "t.yaml").write_text(RULES + SILENT_RULE, encoding="utf-8")
    cases = """\
  - name: heartbeat
    start: "2026-11-20T18:00:00+08:00"
    rules: [t.silent]
    inputs:
      - {at: 0m, device: ext-1, metric: pressure_mpa, value: 1.2, every: 5m, until: 1h}
    expect:
      - {at: 1h9m, firing: []}
      - {at: 1h10m, firing: [{rule: t.silent, device: ext-1, fired_at: 1h10m}]}
"""
    assert run_rule_tests([write_test(folder, cases)]) == []


def test_a_tap_input_is_a_sign_of_life_and_a_tap_with_a_value_is_refused(folder: Path) -> None:
    (folder / "rules" / "t.yaml").write_text(RULES + SILENT_RULE, encoding="utf-8")
    cases = """\
  - name: a reader tapped every 5 minutes for an hour
    start: "2026-11-20T18:00:00+08:00"
    rules: [t.silent]
    inputs:
      - {at: 0m, device: cp-1, tap: true, every: 5m, until: 1h}
    expect:
      - {at: 1h9m, firing: [{rule: t.silent, device: ext-1, fired_at: 10m}]}    # ext-1 never says anything
      - {at: 1h10m, firing: [{rule: t.silent, device: ext-1}, {rule: t.silent, device: cp-1, fired_at: 1h10m}]}
"""
    assert run_rule_tests([write_test(folder, cases)]) == []
    bad = cases.replace("tap: true,", "tap: true, metric: signal, value: 3,")
    (failure,) = run_rule_tests([write_test(folder, bad)])
    assert failure.line == 10 and "or `tap: true`" in failure.message
