"""Device profiles are data: every file validates, every sample decodes as it says, and a broken
file is reported as FILE:LINE problems (several files, several problems, all at once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.errors import ConfigError
from gateway.devices import vocabulary
from gateway.devices.loader import check_profiles, load_profile_file, load_profiles
from gateway.devices.samples import sample_mismatches
from gateway.devices.schema import Profile, SampleSpec

DEVICES = Path(__file__).resolve().parent.parent / "devices"
PROFILE_FILES = sorted(DEVICES.glob("*.yaml"))


def _samples() -> list[tuple[Path, int]]:
    """(file, sample index) for every sample in every profile: a new device file adds test cases."""
    cases: list[tuple[Path, int]] = []
    for path in PROFILE_FILES:
        profile, _ = load_profile_file(path)
        count = len(profile.samples) if profile else 1  # a broken file still yields a (failing) case
        cases.extend((path, i) for i in range(count))
    return cases


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.name)
def test_every_profile_file_validates_and_has_samples(path: Path) -> None:
    profile, problems = load_profile_file(path)
    assert problems == []
    assert profile is not None and profile.samples, f"{path.name} needs sample payloads"


@pytest.mark.parametrize(("path", "index"), _samples(),
                         ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_profile_sample_decodes_to_its_expected_readings(path: Path, index: int) -> None:
    profile, problems = load_profile_file(path)
    assert profile is not None, problems
    sample: SampleSpec = profile.samples[index]
    assert sample_mismatches(profile, sample) == []


def test_builtin_profiles_cover_the_four_ecosystems() -> None:
    names = {p.name for p in load_profiles([DEVICES])}
    assert names == {"zigbee2mqtt", "tasmota", "shelly_gen2", "sitegate_native"}


def test_vocabulary_knows_channel_suffixes_but_not_lookalikes() -> None:
    assert vocabulary.lookup("current_a_2") is vocabulary.METRICS["current_a"]
    assert vocabulary.lookup("power_on_12") is vocabulary.METRICS["power_on"]
    assert vocabulary.lookup("current_a_x") is None
    assert vocabulary.lookup("current_a_²") is None
    for name in ("power_on", "current_a", "power_w", "voltage_v", "energy_kwh", "illuminance_lux",
                 "pressure_mpa", "temperature_c", "battery_pct", "battery_low", "smoke", "tamper",
                 "door_open", "signal"):
        assert name in vocabulary.METRICS


# -- broken profiles ------------------------------------------------------------------------------

GOOD = """\
name: good
ecosystem: Test
messages:
  - topic: test/{device}
    fields:
      - {path: t, metric: temperature_c}
samples:
  - topic: test/a
    payload: {t: 21.5}
    readings: {temperature_c: 21.5}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path) -> list[str]:
    return [str(p) for p in check_profiles([tmp_path])]


def test_a_good_profile_outside_the_builtin_folder_loads(tmp_path: Path) -> None:
    _write(tmp_path, "good.yaml", GOOD)
    [profile] = load_profiles([tmp_path])
    assert isinstance(profile, Profile) and profile.file == str(tmp_path / "good.yaml")


def test_yaml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.yaml", "name: x\necosystem: y\nmessages: [\n")
    [problem] = _problems(tmp_path)
    assert problem.startswith(f"{path}:4: invalid YAML")


def test_unknown_setting_points_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", GOOD.replace("    fields:\n", "    colour: red\n    fields:\n"))
    assert _problems(tmp_path) == [f"{path}:5: messages.0.colour: is not a known setting; "
                                   "check its spelling or remove it"]


def test_misspelt_metric_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", GOOD.replace("metric: temperature_c}", "metric: temprature_c}"))
    [problem] = _problems(tmp_path)
    assert problem.startswith(f"{path}:6: metric 'temprature_c' is not in the vocabulary "
                              "(did you mean temperature_c?)")


def test_unquoted_on_off_map_keys_are_caught(tmp_path: Path) -> None:
    # YAML 1.1 reads ON and OFF as booleans: the map would silently never match "ON".
    unquoted = "{path: s, metric: power_on, map: {ON: true, OFF: false}}"
    path = _write(tmp_path, "p.yaml", GOOD.replace("{path: t, metric: temperature_c}", unquoted))
    problems = _problems(tmp_path)
    assert problems and all(p.startswith(f"{path}:6: map key") and "quotes" in p for p in problems)


def test_bad_topic_placeholder_and_wrong_unit_are_both_reported(tmp_path: Path) -> None:
    text = GOOD.replace("test/{device}", "test/{dev}").replace(
        "metric: temperature_c}", "metric: temperature_c, unit: F}")
    path = _write(tmp_path, "p.yaml", text)
    assert _problems(tmp_path) == [
        f"{path}:4: unknown placeholder '{{dev}}' in 'test/{{dev}}'; "
        "use {device}, {site}, {channel}, {device...}",
        f"{path}:6: temperature_c is in °C in the vocabulary, not F; convert with scale and remove unit",
    ]


def test_a_sample_that_disagrees_with_its_profile_is_a_problem_at_the_sample(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", GOOD.replace("readings: {temperature_c: 21.5}",
                                                   "readings: {temperature_c: 22}"))
    assert _problems(tmp_path) == [f"{path}:8: sample 1 (test/a): expected temperature_c: 22, got 21.5"]


def test_every_bad_file_is_reported_and_load_raises_with_all_problems(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD)
    _write(tmp_path, "b.yaml", GOOD)  # same name as a.yaml
    _write(tmp_path, "c.yaml", "- just\n- a list\n")
    _write(tmp_path, "d.yaml", "name: d\necosystem: x\n")
    with pytest.raises(ConfigError) as err:
        load_profiles([tmp_path, tmp_path / "missing"])
    text = str(err.value).splitlines()
    assert text == [
        f"{tmp_path / 'missing'}:1: profile folder does not exist; create it or fix the path",
        f"{tmp_path / 'b.yaml'}:1: profile name 'good' is already used by {tmp_path / 'a.yaml'}; "
        "give each profile its own name",
        f"{tmp_path / 'c.yaml'}:1: a profile must be a mapping with name, ecosystem and messages",
        f"{tmp_path / 'd.yaml'}:1: messages: is required; add it",
    ]


def test_a_message_that_decodes_nothing_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", GOOD.replace("    fields:\n      - {path: t, metric: temperature_c}\n",
                                                   "    format: json\n").replace(
        "    readings: {temperature_c: 21.5}\n", ""))
    assert _problems(tmp_path) == [f"{path}:4: this message decodes nothing; add fields, availability "
                                   "or tap, or set ignore: true"]


def test_the_example_in_the_devices_readme_is_a_valid_profile(tmp_path: Path) -> None:
    readme = (DEVICES / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    _write(tmp_path, "acme.yaml", example)
    [profile] = load_profiles([tmp_path])
    assert profile.name == "acme_extinguisher" and len(profile.samples) == 2


def test_a_readme_profile_for_one_model_declares_the_kind_of_its_devices(tmp_path: Path) -> None:
    readme = (DEVICES / "README.md").read_text(encoding="utf-8")
    _write(tmp_path, "acme.yaml", readme.split("```yaml\n", 1)[1].split("```", 1)[0])
    [profile] = load_profiles([tmp_path])
    assert profile.kind == "extinguisher"


@pytest.mark.parametrize(("old", "new", "line", "words"), [
    ("topic: test/{device}\n", "topic: '{device...}/x'\n", 4, "cannot be the first level"),
    ("topic: test/{device}\n", "topic: 'test/x{device...}'\n", 4, "must be a whole level"),
    ("topic: test/{device}\n", "topic: '{root}/{device}'\n", 4, "unknown placeholder '{root}'"),
    ("ecosystem: Test\n", "ecosystem: Test\nparams: {root: 'a/#'}\n", 3, "cannot hold '+', '#'"),
    ("ecosystem: Test\n", "ecosystem: Test\nparams: {device: x}\n", 3, "parameter name 'device'"),
    ("ecosystem: Test\n", "ecosystem: Test\nmodels: {X-1: Smoke Detector}\n", 3, "kind 'Smoke Detector'"),
    ("    fields:\n", "    identity: {kind: 'a..b'}\n    fields:\n", 5, "empty key"),
])
def test_names_over_levels_parameters_and_declared_kinds_are_checked(
        tmp_path: Path, old: str, new: str, line: int, words: str) -> None:
    path = _write(tmp_path, "p.yaml", GOOD.replace(old, new, 1))
    [problem] = _problems(tmp_path)
    assert problem.startswith(f"{path}:{line}:") and words in problem, problem


def test_a_profile_parameter_may_remove_its_level_and_a_site_value_replaces_it(tmp_path: Path) -> None:
    from gateway.devices.params import problems

    text = GOOD.replace("ecosystem: Test\n", "ecosystem: Test\nparams: {root: ''}\n").replace(
        "topic: test/{device}", "topic: '{root}/test/{device}'")
    _write(tmp_path, "p.yaml", text)
    [profile] = load_profiles([tmp_path])  # its sample test/a decodes with the default: no root level
    assert list(problems([profile], {"good": {"root": "b3/zigbee"}})) == []
    assert [loc for loc, _ in problems([profile], {"good": {"rot": "x"}, "bad": {}})] == [
        ("good", "rot"), ("bad",)]
