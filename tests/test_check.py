from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.app import check
from gateway.app.check import Checker, check_site
from gateway.core.errors import ConfigError, Problem
from gateway.core.site import Site
from gateway.core.siteload import Overrides

REPO = Path(__file__).resolve().parents[1]
HEAD = "site: {id: t, timezone: UTC}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def where(problems: list[Problem]) -> list[tuple[str, int]]:
    return [(Path(p.file).name, p.line) for p in problems]


AddChecker = Callable[[Checker], None]


@pytest.fixture
def add_checker(monkeypatch: pytest.MonkeyPatch) -> AddChecker:
    """Run one more checker after the real ones, for this test only."""
    extra: list[Checker] = []
    real = check.checkers
    monkeypatch.setattr(check, "checkers", lambda: [*real(), *extra])
    return extra.append


def test_the_minimal_example_site_is_valid() -> None:
    assert check_site(REPO / "examples/minimal-site/site.yaml") == []


def test_problems_in_the_site_file_and_in_every_file_it_names_are_all_reported(tmp_path: Path) -> None:
    site = write(tmp_path / "site.yaml", HEAD +                        # 1
                 "mqtt: {url: 'tcp://b'}\n"                           # 2
                 "inventory: assets.csv\n"                            # 3
                 "patrol: patrol.yaml\n"                              # 4
                 "rules: [rules]\n"                                   # 5
                 "devices: {profiles: [profiles, gone]}\n")           # 6
    write(tmp_path / "assets.csv", "device_id,kind,zone\nlamp-1,lamp,b1\nlamp-1,lamp,b1\nd-1,fire_dor,b1\n")
    write(tmp_path / "patrol.yaml", "checkpoints:\n  - {id: cp-1, zone: b1\n")
    write(tmp_path / "rules" / "mine.yaml", "rules:\n  - id: [unclosed\n")
    write(tmp_path / "profiles" / "broken.yaml", "name: broken\nmessages: {\n")
    problems = check_site(site)
    assert ("site.yaml", 2) in where(problems)  # the bad URL
    assert ("site.yaml", 6) in where(problems)  # the missing profile folder, at its key
    assert ("assets.csv", 3) in where(problems) and ("assets.csv", 4) in where(problems)
    assert {"patrol.yaml", "mine.yaml", "broken.yaml"} <= {Path(p.file).name for p in problems}
    assert all(p.line >= 1 and p.message for p in problems)


def test_a_missing_file_is_reported_once_at_the_key_that_names_it(tmp_path: Path) -> None:
    site = write(tmp_path / "site.yaml", HEAD + "inventory: assets.csv\npatrol: patrol.yaml\n"
                                                "rules: [rules/]\ndevices: {profiles: [profiles]}\n")
    problems = check_site(site)
    assert where(problems) == [("site.yaml", 2), ("site.yaml", 3), ("site.yaml", 4), ("site.yaml", 5)]
    assert all("does not exist" in p.message for p in problems)


def test_the_inventory_is_checked_with_the_kinds_the_site_declares(tmp_path: Path) -> None:
    write(tmp_path / "assets.csv", "device_id,kind,zone\ngas-1,gas_meter,b1\nsmoke-1,smoke_detecter,b1\n")
    plain = write(tmp_path / "site.yaml", HEAD + "inventory: assets.csv\n")
    assert where(check_site(plain)) == [("assets.csv", 2), ("assets.csv", 3)]
    declared = write(tmp_path / "site.yaml", HEAD + "inventory: assets.csv\ndevices:\n"
                                                    "  heartbeat: {gas_meter: 1d}\n")
    problems = check_site(declared)
    assert where(problems) == [("assets.csv", 3)]
    assert "did you mean 'smoke_detector'?" in problems[0].message


def test_the_inventorys_profiles_must_exist(tmp_path: Path) -> None:
    write(tmp_path / "assets.csv", "device_id,kind,zone,profile\n"
                                   "lamp-1,lamp,b1,tasmota\nlamp-2,lamp,b1,tasmoto\n")
    problems = check_site(write(tmp_path / "site.yaml", HEAD + "inventory: assets.csv\n"))
    assert where(problems) == [("assets.csv", 3)] and "did you mean 'tasmota'?" in problems[0].message


def test_a_broken_section_does_not_stop_the_inventory_from_being_checked(tmp_path: Path) -> None:
    write(tmp_path / "assets.csv", "device_id,kind,zone\n,lamp,b1\n")
    site = write(tmp_path / "site.yaml", HEAD + "http: {listen: nowhere}\ninventory: assets.csv\n")
    assert where(check_site(site)) == [("site.yaml", 2), ("assets.csv", 2)]


def test_the_zigbee2mqtt_base_topic_is_one_setting_and_a_wrong_one_is_reported_at_its_line(
        tmp_path: Path) -> None:
    good = write(tmp_path / "site.yaml", HEAD + "devices:\n  params:\n    zigbee2mqtt: {base_topic: z2m/b3}\n")
    assert check_site(good) == []
    bad = write(tmp_path / "site.yaml", HEAD + "devices:\n  params:\n"
                                               "    zigbee2mqtt:\n      base_topc: z2m\n"
                                               "    tasmota: {tele: 'tele/#'}\n"
                                               "    zigbee: {base_topic: z2m}\n")
    problems = check_site(bad)
    assert where(problems) == [("site.yaml", 5), ("site.yaml", 6), ("site.yaml", 7)]
    assert "has no parameter 'base_topc' (its parameters: base_topic)" in problems[0].message
    assert "'+', '#'" in problems[1].message
    assert "no device profile 'zigbee'" in problems[2].message
    empty = write(tmp_path / "site.yaml", HEAD + "devices:\n  params:\n    zigbee2mqtt: {base_topic: ''}\n")
    [problem] = check_site(empty)
    assert "cannot be the first level" in problem.message


def test_overrides_are_checked_too(tmp_path: Path) -> None:
    site = write(tmp_path / "site.yaml", HEAD)
    problems = check_site(site, Overrides.from_env(environ={"SITEGATE_MQTT_URL": "localhost:1883"}))
    assert [p.file for p in problems] == ["SITEGATE_MQTT_URL"]


def test_a_feature_checker_gets_the_site_and_its_problems_are_reported(add_checker: AddChecker, tmp_path: Path) -> None:
    seen: list[Site] = []

    def shifts(site: Site) -> list[Problem]:
        seen.append(site)
        return [site.problem(("site", "timezone"), "night shift needs a time zone east of here")]

    add_checker(shifts)
    site_file = write(tmp_path / "site.yaml", "site:\n  id: t\n  timezone: UTC\n")
    problems = check_site(site_file)
    assert len(seen) == 1 and seen[0].site.id == "t"
    assert [str(p) for p in problems] == [f"{site_file}:3: night shift needs a time zone east of here"]


def test_a_checker_may_raise_config_error_with_its_problems(add_checker: AddChecker, tmp_path: Path) -> None:
    def strict(site: Site) -> list[Problem]:
        raise ConfigError([Problem("patrol.yaml", 9, "a"), Problem("patrol.yaml", 12, "b")])

    add_checker(strict)
    assert where(check_site(write(tmp_path / "site.yaml", HEAD))) == [("patrol.yaml", 9), ("patrol.yaml", 12)]


def test_a_crashing_checker_is_a_problem_and_the_other_checkers_still_run(add_checker: AddChecker,
                                                                           tmp_path: Path) -> None:
    def buggy(site: Site) -> list[Problem]:
        raise KeyError("oops")

    add_checker(buggy)
    write(tmp_path / "assets.csv", "device_id,kind,zone\n,lamp,b1\n")
    problems = check_site(write(tmp_path / "site.yaml", HEAD + "inventory: assets.csv\n"))
    assert ("assets.csv", 2) in where(problems)
    crash = [p for p in problems if "buggy" in p.message]
    assert len(crash) == 1 and "KeyError" in crash[0].message and Path(crash[0].file).name == "site.yaml"


def test_the_same_problem_found_twice_is_printed_once(add_checker: AddChecker, tmp_path: Path) -> None:
    add_checker(lambda site: [Problem("x.yaml", 1, "same")])
    add_checker(lambda site: [Problem("x.yaml", 1, "same")])
    assert where(check_site(write(tmp_path / "site.yaml", HEAD))) == [("x.yaml", 1)]


def test_unparseable_site_file_reports_its_syntax_error_and_runs_no_checker(add_checker: AddChecker,
                                                                            tmp_path: Path) -> None:
    calls: list[Site] = []

    def spy(site: Site) -> list[Problem]:
        calls.append(site)
        return []

    add_checker(spy)
    problems = check_site(write(tmp_path / "site.yaml", "site: {id: t\n"))
    assert len(problems) == 1 and "invalid YAML" in problems[0].message and calls == []


def test_sitegate_check_prints_file_line_problems_and_exits_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gateway.app.cli import app

    write(tmp_path / "assets.csv", "device_id,kind,zone\nlamp-1,lamp,b1\nlamp-1,lamp,b1\n")
    site = write(tmp_path / "site.yaml", HEAD + "inventory: assets.csv\n")
    result = CliRunner().invoke(app, ["check", "--config", str(site)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'assets.csv'}:3: device_id 'lamp-1' is already used on line 2" in result.output
    ok = CliRunner().invoke(app, ["check", "--config", str(REPO / "examples/minimal-site/site.yaml")])
    assert ok.exit_code == 0, ok.output
