"""Rule files: what validates, and that every mistake is reported as FILE:LINE with what to do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core.errors import ConfigError
from gateway.core.model import DeviceInfo, Reading
from gateway.core.paths import rules_dir
from gateway.core.validation import SEVERITIES
from gateway.rules import check_rules, load_rules
from gateway.rules.compare import Bounds
from gateway.rules.conditions import CLEARABLE_TYPES, TYPES
from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.schema import render

GOOD = """\
rules:
  - id: site.low
    match: {kind: extinguisher, metric: pressure_mpa}
    condition: {type: threshold, below: $low}
    clear: {above: $clear_above}
    for: $hold
    labels: {severity: major, category: fire, sla: 4h}
    annotations:
      title: "Low {device}: {value} < {low}"
    params: {low: 1.0, clear_above: 1.1, hold: 1m}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def messages(problems: Sequence[object]) -> list[str]:
    return [str(p) for p in problems]


def test_the_builtin_pack_is_valid_and_every_rule_has_a_known_severity() -> None:
    assert check_rules([rules_dir()]) == []
    rules = load_rules([rules_dir()])
    assert len({r.id for r in rules}) == len(rules) >= 15
    assert all(r.labels.severity in SEVERITIES for r in rules)
    smoke = next(r for r in rules if r.id == "fire.smoke")
    assert smoke.labels.severity == "critical" and smoke.for_ == timedelta(0)


def test_the_registry_holds_every_documented_condition_type_and_knows_which_take_clear() -> None:
    # rules/README.md: six condition types; `clear` is for threshold, count and rate rules.
    assert TYPES == ("threshold", "state", "absent", "offline", "count", "rate")
    assert CLEARABLE_TYPES == ("threshold", "count", "rate")


def test_a_folder_loads_its_yaml_files_but_not_its_tests_subfolder(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    (tmp_path / "tests").mkdir()
    write(tmp_path / "tests", "a_test.yaml", "rule_files: [../a.yaml]\ntests: []\n")
    assert [r.id for r in load_rules([tmp_path])] == ["site.low"]


def test_params_are_substituted_and_the_source_is_recorded(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", GOOD)
    (rule,) = load_rules([path])
    assert rule.condition.type == "threshold" and rule.condition.below == 1.0
    assert rule.clear is not None and rule.clear.above == 1.1
    assert rule.for_ == timedelta(minutes=1)
    assert rule.labels.as_dict()["sla"] == "4h"
    assert rule.source == f"{path}:2"


def test_a_site_override_changes_params_labels_for_and_can_disable_a_rule(tmp_path: Path) -> None:
    pack = write(tmp_path, "pack.yaml", GOOD)
    site = write(tmp_path, "site.yaml", """\
overrides:
  - rule: site.low
    params: {low: 0.9}
    labels: {severity: critical}
    for: 5m
""")
    (rule,) = load_rules([site, pack])  # order of files does not matter
    assert rule.condition.type == "threshold" and rule.condition.below == 0.9
    assert rule.labels.severity == "critical" and rule.for_ == timedelta(minutes=5)
    off = write(tmp_path, "off.yaml", "overrides:\n  - {rule: site.low, enabled: false}\n")
    assert load_rules([pack, off]) == []


def test_the_builtin_lamp_schedule_can_be_switched_to_clock_hours_by_override(tmp_path: Path) -> None:
    site = write(tmp_path, "site.yaml", """\
overrides:
  - rule: lighting.lamp_out
    params: {lit_when: {hours: "18:00-06:00"}, min_current_a: 0.05}
""")
    rule = next(r for r in load_rules([rules_dir(), site]) if r.id == "lighting.lamp_out")
    assert rule.condition.type == "state" and rule.condition.during is not None
    assert rule.condition.during.hours == "18:00-06:00"


def test_an_override_with_match_changes_the_rule_only_for_the_devices_it_matches(tmp_path: Path) -> None:
    pack = write(tmp_path, "pack.yaml", GOOD)
    site = write(tmp_path, "site.yaml", """\
overrides:
  - {rule: site.low, params: {low: 0.95}}
  - {rule: site.low, match: {zone: garage}, params: {low: 0.8}, labels: {severity: minor}}
  - {rule: site.low, match: {device: ext-b9-*}, enabled: false}
""")
    engine = RuleEngine(load_rules([site, pack]), site=SiteContext("Asia/Shanghai"))
    engine.set_devices({d: DeviceInfo(d, "extinguisher", z) for d, z in
                        (("ext-b1", "b1"), ("ext-g1", "garage"), ("ext-b9-1", "b9"))})
    t0, minute = datetime(2026, 11, 21, 12, 0, tzinfo=UTC), timedelta(minutes=1)
    for device in ("ext-b1", "ext-g1", "ext-b9-1"):
        engine.on_reading(Reading(device, "pressure_mpa", 0.9, None, t0), t0)
    # 0.9 is low by the site's 0.95 in b1, not by the garage's 0.8; the b9 tower is not watched at all.
    fired = engine.tick(t0 + minute)
    assert [(e.rule, e.device, e.severity) for e in fired] == [("site.low", "ext-b1", "major")]
    engine.on_reading(Reading("ext-g1", "pressure_mpa", 0.7, None, t0 + 2 * minute), t0 + 2 * minute)
    fired = engine.tick(t0 + 3 * minute)
    assert [(e.rule, e.device, e.severity, e.state) for e in fired] == [("site.low", "ext-g1", "minor", "firing")]
    assert [(c.rule, c.severity) for c in engine.conditions("ext-g1")] == [("site.low", "minor")]
    assert engine.firing() == [("site.low", "ext-b1"), ("site.low", "ext-g1")]


def test_an_override_chooses_devices_by_kind_zone_or_device_not_by_metric(tmp_path: Path) -> None:
    pack = write(tmp_path, "pack.yaml", GOOD)
    site = write(tmp_path, "site.yaml", """\
overrides:
  - rule: site.low
    match: {metric: pressure_mpa}
    enabled: false
""")
    found = messages(check_rules([pack, site]))
    assert len(found) == 1 and found[0].startswith(f"{site}:3: ") and "kind, zone or device" in found[0], found


def test_per_channel_needs_the_metric_whose_channels_it_watches(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", """\
rules:
  - id: site.dead_way
    match: {kind: power_meter}
    per_channel: true
    condition: {type: offline}
    labels: {severity: major}
    annotations: {title: "{device} way {channel} ({circuit})"}
""")
    found = messages(check_rules([bad]))
    assert len(found) == 1 and "`per_channel` watches each channel of a metric" in found[0], found


def test_override_mistakes_are_reported_at_the_override_line(tmp_path: Path) -> None:
    pack = write(tmp_path, "pack.yaml", GOOD)
    site = write(tmp_path, "site.yaml", """\
overrides:
  - rule: site.low
    params:
      low: "abc"
      lwo: 1
  - rule: site.nothing
    enabled: false
""")
    found = messages(check_rules([pack, site]))
    assert any(m.startswith(f"{site}:5: ") and "no parameter 'lwo'" in m for m in found), found
    assert any(m.startswith(f"{site}:6: ") and "site.nothing" in m for m in found), found
    assert any(m.startswith(f"{site}:4: ") and "parameter 'low'" in m and f"{pack}:4" in m for m in found), found


def test_bad_rules_name_the_file_and_line_of_each_mistake_and_keep_checking(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", """\
rules:
  - id: a.one
    match: {metric: pressure_mpa}
    condition: {type: threshold, below: $low}
    labels:
      severity: urgent
    annotations: {title: "x"}
  - id: a.two
    match: {metric: pressure_mpa}
    condition:
      type: threshold
      below: 1.0
    clear: {above: 0.9}
    labels: {severity: major}
    annotations: {title: "x"}
  - id: a.three
    condition: {type: thresh, below: 1}
    labels: {severity: major}
    annotations: {title: "x"}
    for: 5 minutes
  - id: a.four
    condition: {type: offline}
    clear: {above: 1}
    labels: {severity: major}
    annotations: {title: "x {device.__class__}"}
""")
    found = messages(check_rules([bad]))
    expected = {
        4: "$low is not a parameter",
        6: "severity",
        8: "inside the firing band",
        17: "thresh",
        20: "is not a duration",
        21: "`clear` is only for",
    }
    for line, text in expected.items():
        assert any(m.startswith(f"{bad}:{line}: ") and text in m for m in found), (line, text, found)
    with pytest.raises(ConfigError) as exc:
        load_rules([bad])
    assert str(bad) in str(exc.value)


def test_duplicate_ids_point_at_both_places(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", GOOD)
    b = write(tmp_path, "b.yaml", GOOD)
    (problem,) = check_rules([a, b])
    assert problem.file == b and problem.line == 2 and f"{a}:2" in problem.message


def test_yaml_syntax_errors_and_missing_files_are_problems_not_crashes(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", "rules:\n  - id: x\n    condition: {type: [\n")
    found = messages(check_rules([broken, tmp_path / "missing.yaml"]))
    assert any(m.startswith(f"{broken}:") and "invalid YAML" in m for m in found)
    assert any(m.startswith(f"{tmp_path / 'missing.yaml'}:1: ") and "does not exist" in m for m in found)


def test_unknown_keys_and_missing_fields_are_reported(tmp_path: Path) -> None:
    f = write(tmp_path, "f.yaml", """\
rules:
  - id: x
    condition: {type: absent}
    labels: {severity: minor}
    annotation: {title: "typo"}
""")
    found = messages(check_rules([f]))
    assert any(":5: " in m and "not a known setting" in m for m in found), found
    assert any("annotations: is required" in m for m in found), found


@pytest.mark.parametrize(("rule", "message"), [
    ("id: x, match: {metric: [a, b]}, condition: {type: threshold, below: 1}", "exactly one `match.metric`"),
    ("id: x, condition: {type: state, all: [{below: 1}]}", "needs a `metric`"),
    ("id: x, condition: {type: state, all: [], any: []}", "non-empty"),
    ("id: x, match: {metric: d}, condition: {type: count, window: 1h, above: 3}", "becomes"),
    ("id: x, match: {metric: p}, condition: {type: threshold}", "needs a comparison"),
    ("id: x, condition: {type: state, during: {hours: '25:00-06:00'}, any: [{metric: a, equals: 1}]}",
     "span of hours"),
    ("id: x, condition: {type: state, during: {}, any: [{metric: a, equals: 1}]}", "exactly one of"),
])
def test_inconsistent_conditions_are_explained(tmp_path: Path, rule: str, message: str) -> None:
    text = "rules:\n  - {" + rule + ", labels: {severity: minor}, annotations: {title: t}}\n"
    f = write(tmp_path, "f.yaml", text)
    found = messages(check_rules([f]))
    assert any(message in m for m in found), found


def test_templates_accept_only_plain_known_fields(tmp_path: Path) -> None:
    f = write(tmp_path, "f.yaml", """\
rules:
  - id: x
    condition: {type: offline}
    labels: {severity: minor}
    annotations: {title: "{device} {secret}"}
""")
    (problem,) = check_rules([f])
    assert problem.line == 2 and "{secret}" in problem.message


def test_render_never_looks_up_attributes_and_survives_bad_format_specs() -> None:
    assert render("{value.__class__} {device}", {"value": 1.0, "device": "d"}) == "{value.__class__} d"
    assert render("{value:.2f} MPa", {"value": 0.712}) == "0.71 MPa"
    assert render("{value:.2f} MPa", {"value": "n/a"}) == "{value:.2f} MPa"
    assert render("{value} {missing}", {"value": None}) == "- {missing}"
    assert render("{for}", {"for": timedelta(seconds=300)}) == "5m"


def test_durations_and_comparisons() -> None:
    band = Bounds(at_least=0, below=30)
    assert band.test(20) is True and band.test(-80) is False and band.test(30) is False
    assert band.test(True) is None and band.test("x") is None
    assert Bounds(equals=True).test(1) is False and Bounds(equals=True).test(True) is True
