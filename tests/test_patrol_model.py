"""The patrol file: valid files load, and every mistake is reported as FILE:LINE: sentence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gateway.core.errors import ConfigError
from gateway.core.yamlsource import load_yaml
from gateway.patrol.model import load_plan, plan_from_data

DATA = Path(__file__).parent / "data"

GOOD_HEAD = """\
checkpoints:
  - {id: cp-a, name: A门 Gate A, zone: north, reader: rd-a}
  - {id: cp-b, name: B roof, zone: b1, tag: "04a1b2c3"}
guards:
  - {id: G1, name: Guard One, card: "G0001", reader: hh-1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "patrol.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    return [str(p) for p in info.value.problems]


def test_the_test_site_plan_loads_with_both_reader_styles() -> None:
    plan = load_plan(DATA / "patrol.yaml")
    assert [r.id for r in plan.routes] == ["night-north", "plant-check"]
    north = plan.route("night-north")
    assert north.ordered and north.limit == timedelta(minutes=45)
    assert north.start_grace == timedelta(minutes=10)
    assert plan.checkpoint("cp-gate-north").reader == "cp-gate-north"
    assert plan.checkpoint("cp-b1-roof").tag == "04A1B2C3"
    assert plan.event_cards[1].severity == "major"


def test_the_contract_example_loads_as_written(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, """\
checkpoints:
  - {id: cp-gate-north, name: 北门 North gate, zone: north, reader: cp-gate-north}   # fixed reader
  - {id: cp-b1-roof, name: 1号楼天台 B1 roof, zone: b1, tag: "04A1B2C3"}             # tag at the checkpoint
guards:
  - {id: G017, name: 王强 Wang Qiang, card: "G0017", reader: hh-07}
event_cards:
  - {tag: "EV-LAMP", event: lamp_out}
routes:
  - id: night-north
    ordered: true
    schedule: "0 20,22,0,2,4 * * *"   # cron, site time zone
    start_grace: 10m
    limit: 45m
    checkpoints:
      - {id: cp-gate-north, at: 0m, tolerance: 5m}
      - {id: cp-b1-roof, at: 12m, tolerance: 5m}
"""))
    assert plan.route("night-north").checkpoints[1].at == timedelta(minutes=12)


def test_a_patrol_section_inlined_in_a_site_file_reports_lines_of_that_file(tmp_path: Path) -> None:
    path = write(tmp_path, """\
site: {id: hv, timezone: Asia/Shanghai}
patrol:
  checkpoints:
    - {id: cp-a, zone: north, reader: rd-a}
  routes:
    - {id: r1, schedule: "0 20 * * *", limit: 10m, checkpoints: [{id: cp-x, at: 0m}]}
""")
    data, lines = load_yaml(path)
    with pytest.raises(ConfigError) as info:
        plan_from_data(data["patrol"], lines, ("patrol",))
    assert [str(p) for p in info.value.problems] == [
        f"{path}:6: route 'r1' names checkpoint 'cp-x', which is not in `checkpoints`; "
        "add it there or fix the spelling"]


def test_tags_are_upper_cased_so_readers_match_regardless_of_case(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, GOOD_HEAD))
    assert plan.checkpoint("cp-b").tag == "04A1B2C3"


def test_route_naming_an_unknown_checkpoint_is_reported_at_that_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD + """\
routes:
  - id: r1
    schedule: "0 20 * * *"
    limit: 30m
    checkpoints:
      - {id: cp-a, at: 0m, tolerance: 5m}
      - {id: cp-zz, at: 10m, tolerance: 5m}
""")
    assert problems(path) == [
        f"{path}:12: route 'r1' names checkpoint 'cp-zz', which is not in `checkpoints`; "
        "add it there or fix the spelling"]


def test_duplicate_ids_tags_and_readers_each_name_the_first_use(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD + """\
  - {id: G1, name: Copy, card: "04A1B2C3"}
  - {id: G2, name: Other, reader: rd-a}
""")
    found = problems(path)
    assert f"{path}:6: guard id 'G1' is already used at line 5; each must be unique" in found
    assert f"{path}:6: tag '04A1B2C3' is already used at line 3; each must be unique" in found
    assert f"{path}:7: reader 'rd-a' is already used at line 2; each must be unique" in found
    assert len(found) == 3


def test_checkpoint_without_reader_or_tag_is_a_problem_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
checkpoints:
  - {id: cp-a, zone: north, reader: rd-a}
  - {id: cp-c, name: Nowhere, zone: z}
""")
    found = problems(path)
    assert len(found) == 1
    assert found[0].startswith(f"{path}:3: checkpoint 'cp-c' has neither a reader nor a tag;")


def test_bad_durations_schedules_and_unquoted_tags_are_explained(tmp_path: Path) -> None:
    path = write(tmp_path, """\
checkpoints:
  - {id: cp-a, zone: north, tag: 0017}
routes:
  - id: r1
    schedule: "0 25 * * *"
    limit: -45
    checkpoints:
      - {id: cp-a, at: 5 minutes}
""")
    found = problems(path)
    assert any(p.startswith(f"{path}:2: checkpoints.0.tag: 15 must be a quoted string") for p in found)
    assert any(p.startswith(f"{path}:6: routes.0.limit: -45 is not a duration (it must be zero or longer)")
               for p in found)
    assert any(p.startswith(f"{path}:8: routes.0.checkpoints.0.at: '5 minutes' is not a duration")
               for p in found)
    # The schedule is a cross-check, reported once the shapes are right.
    path = write(tmp_path, """\
checkpoints:
  - {id: cp-a, zone: north, tag: "0017"}
routes:
  - id: r1
    schedule: "0 25 * * *"
    limit: 45m
    checkpoints:
      - {id: cp-a, at: 5m}
""")
    assert problems(path) == [f"{path}:5: routes.0.schedule: '0 25 * * *' is not a valid cron expression; "
                              "check each field's range, e.g. hours 0-23"]


def test_window_past_the_limit_and_unordered_offsets_are_problems(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD + """\
routes:
  - id: r1
    ordered: true
    schedule: "0 20 * * *"
    limit: 20m
    checkpoints:
      - {id: cp-a, at: 10m, tolerance: 5m}
      - {id: cp-b, at: 5m, tolerance: 20m}
""")
    found = problems(path)
    assert len(found) == 2
    assert found[0].startswith(f"{path}:13: the window of 'cp-b' on route 'r1' ends after the route's limit")
    assert found[1].startswith(f"{path}:13: route 'r1' is ordered but 'cp-b' is expected before")


def test_unknown_keys_and_missing_fields_are_reported_with_lines(tmp_path: Path) -> None:
    path = write(tmp_path, """\
checkpoints:
  - id: cp-a
    zone: north
    reder: rd-a
routes:
  - id: r1
    limit: 10m
    checkpoints: [{id: cp-a, at: 0m}]
""")
    found = problems(path)
    assert f"{path}:4: checkpoints.0.reder: is not a known setting; check its spelling or remove it" in found
    assert f"{path}:6: routes.0.schedule: is required; add it" in found


def test_six_field_cron_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD + """\
routes:
  - {id: r1, schedule: "0 0 20 * * *", limit: 10m, checkpoints: [{id: cp-a, at: 0m}]}
""")
    assert problems(path) == [f"{path}:7: routes.0.schedule: '0 0 20 * * *' has 6 fields; a schedule needs 5 "
                              "(minute hour day-of-month month day-of-week), e.g. \"0 20,22,0,2,4 * * *\""]
