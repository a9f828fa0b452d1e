from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.core.errors import ConfigError, Problem
from gateway.core.model import DeviceInfo
from gateway.core.validation import id_problem
from gateway.ingest.inventory import check_inventory, load_inventory

REPO = Path(__file__).resolve().parents[1]
HEADER = "device_id,kind,zone\n"


def write(tmp_path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    path = tmp_path / "assets.csv"
    path.write_bytes(text.encode(encoding))
    return path


def only_problem(path: Path, **kwargs: object) -> Problem:
    problems = check_inventory(path, **kwargs)  # type: ignore[arg-type]
    assert len(problems) == 1, problems
    return problems[0]


def test_an_excel_csv_with_bom_and_chinese_text_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "device_id,kind,zone,profile,topic,location,owner,circuit,采购日期 purchased\r\n"
                           "lamp-b1-01,lamp,b1,tasmota,tele/lamp-b1-01/SENSOR,1号楼大堂 B1 lobby,"
                           "工程部 Engineering,AL1-WL1,2024-05-01\r\n"
                           "烟感-1,smoke_detector,北区,,,,,,\r\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    devices = load_inventory(path)
    assert devices == {
        "lamp-b1-01": DeviceInfo(id="lamp-b1-01", kind="lamp", zone="b1", profile="tasmota",
                                 location="1号楼大堂 B1 lobby", owner="工程部 Engineering",
                                 circuit="AL1-WL1"),
        "烟感-1": DeviceInfo(id="烟感-1", kind="smoke_detector", zone="北区"),
    }
    assert check_inventory(path) == []


def test_headers_are_matched_without_case_or_blanks_and_cells_are_trimmed(tmp_path: Path) -> None:
    path = write(tmp_path, " Device ID , KIND,Zone ,Owner\n lamp-1 , lamp , b1 , 保安部 Security \n")
    assert load_inventory(path)["lamp-1"] == DeviceInfo(id="lamp-1", kind="lamp", zone="b1",
                                                        owner="保安部 Security")


def test_blank_rows_and_comment_rows_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "\n# spare lamps below\n,,\nlamp-1,lamp,b1\n")
    assert list(load_inventory(path)) == ["lamp-1"]


def test_a_device_id_may_hold_blanks_like_a_zigbee2mqtt_friendly_name(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "Lobby Lamp,lamp,b1\n")
    assert list(load_inventory(path)) == ["Lobby Lamp"]


def test_a_zigbee2mqtt_name_grouped_with_slashes_is_registered_under_its_dotted_id(tmp_path: Path) -> None:
    path = write(tmp_path, "device_id,kind,zone,topic\nB3.2F.smoke,smoke_detector,b3,zigbee2mqtt/B3/2F/smoke\n")
    assert load_inventory(path)["B3.2F.smoke"].kind == "smoke_detector"
    # The friendly name itself is refused with the id to write instead: ids are single topic levels.
    problem = only_problem(write(tmp_path, HEADER + "B3/2F/smoke,smoke_detector,b3\n"))
    assert problem.line == 2
    assert "B3/2F/smoke" in problem.message and "write B3.2F.smoke" in problem.message


def test_the_bundled_inventories_are_valid() -> None:
    assert check_inventory(REPO / "examples/demo-site/assets.csv") == []
    devices = load_inventory(REPO / "examples/minimal-site/assets.csv")
    assert devices["ext-b1-01"].owner == "消防中控 Fire control"


# --- every mistake at its line ---------------------------------------------------------------------


def test_a_missing_required_column_is_named_on_line_1(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "device_id,type,location\nlamp-1,lamp,lobby\n"))
    assert problem.line == 1
    assert "lacks the required column(s) kind, zone" in problem.message
    assert "found: device_id, type, location" in problem.message


def test_an_empty_device_id_is_reported_at_its_line(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, HEADER + "lamp-1,lamp,b1\n,lamp,b1\n"))
    assert problem.line == 3 and problem.message.startswith("device_id is empty")


def test_a_duplicate_device_id_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "lamp-1,lamp,b1\nlamp-2,lamp,b1\nlamp-1,lamp,b2\n")
    problem = only_problem(path)
    assert (problem.file, problem.line) == (path, 4)
    assert "device_id 'lamp-1' is already used on line 2" in problem.message


@pytest.mark.parametrize(("zone", "words"), [("", "zone is empty"), ("north gate", "blanks"),
                                             ("b1/2f", "'/', '+' or '#'")])
def test_a_bad_zone_is_reported_at_its_line(tmp_path: Path, zone: str, words: str) -> None:
    problem = only_problem(write(tmp_path, HEADER + "lamp-1,lamp,b1\n" + f"lamp-2,lamp,{zone}\n"))
    assert problem.line == 3 and words in problem.message and "location column" in problem.message


def test_an_unknown_kind_is_a_problem_for_check_with_a_suggestion(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, HEADER + "smoke-1,smoke_detecter,b1\n"))
    assert problem.line == 2 and "did you mean 'smoke_detector'?" in problem.message


def test_an_unknown_kind_is_loaded_with_a_warning_so_a_running_site_keeps_running(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, HEADER + "gas-1,gas_meter,b1\n")
    with caplog.at_level(logging.WARNING, logger="sitegate.inventory"):
        assert load_inventory(path)["gas-1"].kind == "gas_meter"
    assert "assets.csv:2: kind 'gas_meter' is not a known device kind" in caplog.text


def test_kinds_the_site_declares_and_unknown_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "gas-1,gas_meter,b1\nx-1,unknown,b1\n")
    assert check_inventory(path, kinds={"gas_meter"}) == []


def test_a_profile_that_does_not_exist_is_reported_when_profiles_are_known(tmp_path: Path) -> None:
    path = write(tmp_path, "device_id,kind,zone,profile\nlamp-1,lamp,b1,tasmotta\nlamp-2,lamp,b1,tasmota\n")
    assert check_inventory(path) == []  # without the list of profiles nothing is claimed
    problem = only_problem(path, profiles={"tasmota", "zigbee2mqtt"})
    assert problem.line == 2 and "did you mean 'tasmota'?" in problem.message


def test_a_wildcard_topic_is_refused(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "device_id,kind,zone,topic\nlamp-1,lamp,b1,tele/+/SENSOR\n"))
    assert problem.line == 2 and "wildcard" in problem.message


def test_a_row_with_more_values_than_columns_is_refused(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, HEADER + "lamp-1,lamp,b1,1号楼, 大堂\n"))
    assert problem.line == 2 and "quote values that contain commas" in problem.message


def test_line_numbers_count_the_lines_of_a_quoted_multi_line_cell(tmp_path: Path) -> None:
    path = write(tmp_path, "device_id,kind,zone,location\r\n"
                           "lamp-1,lamp,b1,\"1号楼\r\n大堂\"\r\n"
                           "lamp-2,lampp,b1,x\r\n")
    assert load_inventory(path)["lamp-1"].location == "1号楼\r\n大堂"
    assert only_problem(path).line == 4


def test_every_problem_is_collected_in_line_order(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",lamp,b1\nlamp-1,lamb,b1\nlamp-2,lamp,\n"
                                    "lamp-2,lamp,b1\nlamp-2,lamp,b1\n")
    assert [p.line for p in check_inventory(path)] == [2, 3, 4, 6]
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert [p.line for p in info.value.problems] == [2, 4, 6]  # the unknown kind is only a warning here


def test_a_gbk_file_from_excel_is_explained_at_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "lamp-1,lamp,b1\nlamp-2,lamp,b1,北区\n", encoding="gbk")
    problem = only_problem(path)
    assert problem.line == 3 and "save it as \"CSV UTF-8\"" in problem.message


def test_semicolon_separated_files_are_explained(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "device_id;kind;zone\nlamp-1;lamp;b1\n"))
    assert problem.line == 1 and "not separated by commas" in problem.message


@pytest.mark.parametrize("text", ["", "device_id,kind,zone,kind\n"])
def test_an_empty_file_or_a_repeated_column_is_a_header_problem(tmp_path: Path, text: str) -> None:
    assert only_problem(write(tmp_path, text)).line == 1


def test_a_missing_file_is_a_problem_and_load_raises(tmp_path: Path) -> None:
    problem = only_problem(tmp_path / "nope.csv")
    assert "cannot read the inventory" in problem.message
    with pytest.raises(ConfigError):
        load_inventory(tmp_path / "nope.csv")


@pytest.mark.parametrize(("value", "ok"), [("lamp-b1-01", True), ("北区", True), ("a.b:c_d", True),
                                           ("", False), ("a/b", False), ("a+", False), ("#", False),
                                           ("a b", False), ("a\tb", False), ("x" * 129, False)])
def test_id_rules(value: str, ok: bool) -> None:
    assert (id_problem(value) is None) is ok
