"""The built-in rule pack passes its own rule tests, and every built-in rule is tested."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.core.paths import demo_site_dir, rules_dir
from gateway.rules import load_rules
from gateway.rules.testing import run_rule_tests

TEST_FILES = sorted((rules_dir() / "tests").glob("*.yaml"))


def test_every_pack_file_has_a_test_file() -> None:
    packs = {p.stem for p in rules_dir().glob("*.yaml")}
    assert packs == {p.stem for p in TEST_FILES} == {"lighting", "fire", "device_health"}


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.stem)
def test_pack_rule_tests_pass(path: Path) -> None:
    failures = run_rule_tests([path])
    assert failures == [], "\n".join(str(f) for f in failures)


def test_the_demo_sites_own_rule_tests_pass_on_top_of_the_pack() -> None:
    files = sorted((demo_site_dir() / "rules" / "tests").glob("*.yaml"))
    assert [p.stem for p in files] == ["lighting"]
    failures = run_rule_tests(files)
    assert failures == [], "\n".join(str(f) for f in failures)


def test_every_builtin_rule_is_expected_to_fire_in_some_test() -> None:
    fired: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for exp in case.get("expect", []):
                fired |= {a["rule"] for a in exp.get("firing") or []}
    assert {r.id for r in load_rules([rules_dir()])} - fired == set()
