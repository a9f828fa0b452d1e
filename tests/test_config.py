from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ConfigDict

from gateway.core import plugins
from gateway.core.errors import ConfigError, Problem
from gateway.core.site import DEFAULT_HEARTBEAT, Site, parse_listen, parse_mqtt_url, section_models
from gateway.core.siteload import NO_OVERRIDES, Overrides, load_site, parse_site
from gateway.ingest.inventory import KINDS

CONTRACT_EXAMPLE = """\
site: {id: harbor-view, name: 海景花园 Harbor View, timezone: Asia/Shanghai,
       latitude: 31.23, longitude: 121.47}
mqtt: {url: mqtt://127.0.0.1:1883}
http: {listen: 127.0.0.1:8080}
storage: {path: ./data}
inventory: assets.csv          # relative paths are relative to the site file
patrol: patrol.yaml
rules: [rules/]
timeseries:
  embedded: true
  influxdb: {url: http://127.0.0.1:8086, org: estate, bucket: sites, token_env: INFLUX_TOKEN}
"""

HEAD = "site: {id: t, timezone: UTC}\n"


def write(folder: Path, text: str, name: str = "site.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, overrides: Overrides = NO_OVERRIDES) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_site(path, overrides)
    return info.value.problems


def only_problem(path: Path, overrides: Overrides = NO_OVERRIDES) -> Problem:
    problems = problems_of(path, overrides)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.fixture
def contract_site(tmp_path: Path) -> Path:
    site = write(tmp_path / "site", CONTRACT_EXAMPLE)
    (site.parent / "assets.csv").write_text("device_id,kind,zone\n", encoding="utf-8")
    (site.parent / "patrol.yaml").write_text("checkpoints: []\n", encoding="utf-8")
    (site.parent / "rules").mkdir()
    return site


# --- the happy paths -------------------------------------------------------------------------------


def test_the_contract_example_loads_with_its_values(contract_site: Path) -> None:
    site = load_site(contract_site)
    folder = contract_site.parent.absolute()
    assert site.site.name == "海景花园 Harbor View"
    assert site.tz.key == "Asia/Shanghai"
    assert (site.mqtt.host, site.mqtt.port, site.mqtt.tls) == ("127.0.0.1", 1883, False)
    assert (site.http.host, site.http.port) == ("127.0.0.1", 8080)
    assert site.data_dir == folder / "data"
    assert site.inventory == folder / "assets.csv"
    assert site.patrol == folder / "patrol.yaml"
    assert site.rules == [folder / "rules"]
    assert site.builtin_rules is True
    assert site.timeseries.influxdb is not None and site.timeseries.influxdb.token_env == "INFLUX_TOKEN"
    assert site.file == contract_site.absolute()


def test_without_a_file_the_bundled_defaults_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    site = load_site(None)
    assert site.site.id == "site"
    assert site.tz.key == "UTC"
    assert site.data_dir == tmp_path / "data"
    assert site.inventory is None and site.patrol is None and site.rules == []
    assert site.builtin_rules is True and site.timeseries.embedded is True
    assert (site.mqtt.host, site.mqtt.port, site.mqtt.client_id) == ("127.0.0.1", 1883, "sitegate-site")
    assert (site.http.host, site.http.port) == ("127.0.0.1", 8080)
    assert site.file is None


def test_our_own_settings_have_working_defaults(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, HEAD))
    m = site.mqtt
    assert (m.client_id, m.protocol, m.keepalive_s, m.reconnect_min_s, m.reconnect_max_s) == \
        ("sitegate-t", "3.1.1", 30, 1, 4)
    assert (m.receive_maximum, m.session_expiry_s, m.topics, m.tls_insecure) == (1000, 7 * 86400, None, False)
    i = site.ingest
    assert (i.max_payload_bytes, i.max_topic_length) == (65536, 256)
    assert (i.max_devices, i.max_pending) == (10000, 20000)
    assert (i.batch_max, i.deadletter_max) == (1000, 10000)
    assert i.max_clock_skew == timedelta(minutes=10)
    assert site.devices.profiles == []
    assert set(site.devices.heartbeat) == {*KINDS, "unknown"}
    assert site.devices.heartbeat["smoke_detector"] == timedelta(hours=6)
    assert site.devices.heartbeat["lamp"] == timedelta(minutes=15)


def test_a_heartbeat_section_changes_only_the_kinds_it_names(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, HEAD + "devices:\n  heartbeat: {smoke_detector: 4h, gas_meter: 1d}\n"))
    heartbeat = site.devices.heartbeat
    assert heartbeat["smoke_detector"] == timedelta(hours=4)
    assert heartbeat["gas_meter"] == timedelta(days=1)
    assert heartbeat["lamp"] == DEFAULT_HEARTBEAT["lamp"]


def test_mqtt_options_accept_yaml_numbers_and_durations(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, HEAD + "mqtt:\n  url: mqtts://broker.example\n  protocol: 5\n"
                                            "  keepalive_s: 1m\n  session_expiry_s: 1d\n  client_id: gw-1\n"
                                            "  topics: [zigbee2mqtt/#]\n"))
    m = site.mqtt
    assert (m.host, m.port, m.tls, m.protocol) == ("broker.example", 8883, True, "5")
    assert (m.keepalive_s, m.session_expiry_s) == (60, 86400)
    assert (m.client_id, m.topics) == ("gw-1", ["zigbee2mqtt/#"])


def test_a_single_rule_path_may_be_written_without_a_list(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text("rules: []\n", encoding="utf-8")
    site = load_site(write(tmp_path, HEAD + "rules: extra.yaml\nbuiltin_rules: false\n"))
    assert site.rules == [tmp_path.absolute() / "extra.yaml"]
    assert site.builtin_rules is False


# --- relative paths --------------------------------------------------------------------------------


def test_relative_paths_start_at_the_site_files_folder_not_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "sites" / "north"
    for name in ("assets.csv", "patrol.yaml", "ca.pem", "client.pem", "client.key", "secret"):
        write(folder / "files", "x", name)
    (folder / "rules").mkdir(parents=True)
    (folder / "profiles").mkdir()
    write(folder, HEAD + "inventory: files/assets.csv\npatrol: files/patrol.yaml\nrules: [rules, /abs/r]\n"
                         "storage: {path: state}\ndevices: {profiles: [profiles]}\n"
                         "mqtt: {url: 'mqtts://b', ca_file: files/ca.pem, cert_file: files/client.pem,"
                         " key_file: files/client.key, password_file: files/secret}\n")
    monkeypatch.chdir(tmp_path)  # a relative site path, and a working folder that is not the site's
    site, _problems = parse_site(Path("sites/north/site.yaml"))
    assert site is not None
    base = folder.absolute()
    assert site.inventory == base / "files/assets.csv"
    assert site.patrol == base / "files/patrol.yaml"
    assert site.rules == [base / "rules", Path("/abs/r")]
    assert site.data_dir == base / "state"
    assert site.devices.profiles == [base / "profiles"]
    assert (site.mqtt.ca_file, site.mqtt.cert_file, site.mqtt.key_file, site.mqtt.password_file) == \
        (base / "files/ca.pem", base / "files/client.pem", base / "files/client.key", base / "files/secret")


def test_missing_referenced_files_are_reported_at_the_line_of_their_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD +                      # line 1
                 "inventory: nope.csv\n"              # line 2
                 "rules:\n"                           # line 3
                 "  - nope-rules/\n"                  # line 4
                 "patrol: nope.yaml\n")               # line 5
    problems = problems_of(path)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(2, "inventory"), (4, "rules"),
                                                                      (5, "patrol")]
    assert "nope.csv does not exist" in problems[0].message
    assert all(p.file == path for p in problems)


def test_a_folder_named_where_a_file_is_expected_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    problem = only_problem(write(tmp_path, HEAD + "inventory: assets\n"))
    assert problem.line == 2 and "is a folder" in problem.message


# --- FILE:LINE for every mistake -------------------------------------------------------------------


def test_a_typo_in_a_key_on_line_7_is_reported_on_line_7_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  id: t\n  timezone: UTC\nmqtt:\n  url: mqtt://b:1883\n"
                           "  keepalive_s: 30\n  clinet_id: x\n")
    problem = only_problem(path)
    assert str(problem) == f"{path}:7: mqtt.clinet_id: is not a known setting; did you mean 'client_id'?"


@pytest.mark.parametrize(("text", "line", "words"), [
    ("site: {id: t, timezone: UTC}\ninventroy: a.csv\n", 2, "inventroy: is not a known setting; did you mean "
                                                            "'inventory'"),
    ("site:\n  id: t\n  timezone: Asia/Shanghia\n", 3, "did you mean 'Asia/Shanghai'"),
    ("site:\n  id: t\n  timezone: asia/shanghai\n", 3, "did you mean 'Asia/Shanghai'"),
    ("site:\n  id: t\n  timezone: Mars/Olympus\n", 3, "not an IANA time zone name"),
    ("site:\n  name: x\n  timezone: UTC\n", 1, "site.id: is required"),
    ("site:\n  id: t\n", 1, "site.timezone: is required"),
    ("mqtt: {url: 'mqtt://b'}\n", 1, "site: is required"),
    ("site:\n  id: harbor/view\n  timezone: UTC\n", 2, "letters, digits"),
    ("site: {id: t, timezone: UTC, latitude: 31.2}\n", 1, "both latitude and longitude"),
    ("site: {id: t, timezone: UTC, latitude: 131.2, longitude: 1}\n", 1, "site.latitude"),
    (HEAD + "mqtt:\n  url: tcp://b:1883\n", 3, "write it as mqtt://HOST:PORT"),
    (HEAD + "mqtt:\n  url: mqtt://b:99999\n", 3, "bad port"),
    (HEAD + "mqtt:\n  protocol: 4\n", 3, "'3.1.1' or '5'"),
    (HEAD + "mqtt:\n  url: mqtt://b\n  ca_file: ca.pem\n", 2, "does not use TLS; write mqtts://"),
    (HEAD + "mqtt:\n  receive_maximum: 0\n", 3, "mqtt.receive_maximum"),
    (HEAD + "mqtt:\n  reconnect_min_s: 90\n  reconnect_max_s: 30\n", 2, "must not be smaller"),
    (HEAD + "mqtt:\n  topics: []\n", 3, "nothing would be received"),
    (HEAD + "http:\n  listen: 8080\n", 3, "write HOST:PORT"),
    (HEAD + "storage:\n  path: [a]\n", 3, "storage.path"),
    (HEAD + "builtin_rules: maybe\n", 2, "builtin_rules"),
    (HEAD + "ingest:\n  batch_max: 1000\n  max_clock_skew: soon\n", 4, "write it like 90s, 15m, 6h, 1d"),
    (HEAD + "ingest:\n  max_pending: -1\n", 3, "ingest.max_pending"),
    (HEAD + "devices:\n  heartbeat:\n    lamp: 15m\n    smoke_detector: 0s\n", 5, "must be longer than zero"),
    (HEAD + "devices:\n  heartbeat:\n    gas meter: 1h\n", 4, "kind name 'gas meter'"),
    (HEAD + "devices:\n  hearbeat: {}\n", 3, "did you mean 'heartbeat'"),
    (HEAD + "timeseries:\n  influxdb:\n    url: ftp://x\n    org: o\n    bucket: b\n", 4, "http:// or https://"),
    (HEAD + "timeseries:\n  influxdb:\n    url: http://x\n    org: o\n", 3, "influxdb.bucket: is required"),
    (HEAD + "timeseries:\n  embeded: true\n", 3, "did you mean 'embedded'"),
    (HEAD + "mqtt: {url: 'mqtt://b'\n", 3, "invalid YAML"),
])
def test_every_mistake_is_reported_at_its_file_and_line(tmp_path: Path, text: str, line: int,
                                                        words: str) -> None:
    path = write(tmp_path, text)
    problem = only_problem(path)
    assert (problem.file, problem.line) == (path, line), problem
    assert words in problem.message


def test_every_problem_in_the_file_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  id: t\n  timezone: Nowhere\nmqtt:\n  url: ws://b\nhttp:\n  listen: x\n")
    assert [p.line for p in problems_of(path)] == [3, 5, 7]


def test_a_file_that_is_not_a_mapping_says_what_a_site_file_is(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "- site\n- mqtt\n"))
    assert problem.line == 1 and "mapping of sections" in problem.message


def test_an_empty_file_asks_for_the_site_section(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, ""))
    assert problem.line == 1 and "site: is required" in problem.message


def test_an_unreadable_site_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problem = only_problem(tmp_path / "missing.yaml")
    assert "cannot read file" in problem.message


def test_a_broken_section_still_gives_a_site_with_its_defaults_for_checking_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "mqtt: {url: nonsense}\ninventory: assets.csv\n")
    (tmp_path / "assets.csv").write_text("device_id,kind,zone\n", encoding="utf-8")
    site, problems = parse_site(path)
    assert [p.line for p in problems] == [2]
    assert site is not None and site.inventory == tmp_path.absolute() / "assets.csv"
    assert site.mqtt.url == "mqtt://127.0.0.1:1883"


def test_site_problem_points_other_checkers_at_the_lines_of_the_site_file(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, HEAD + "devices:\n  heartbeat:\n    lamp: 20m\n"))
    assert site.problem(("devices", "heartbeat", "lamp"), "x").line == 4
    assert site.problem(("devices", "heartbeat", "not-there"), "x").line == 3


# --- overrides -------------------------------------------------------------------------------------


def test_a_cli_flag_wins_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    env = {"SITEGATE_MQTT_URL": "mqtt://env-broker:1884", "SITEGATE_HTTP": "0.0.0.0:9000",
           "SITEGATE_DATA": str(tmp_path / "env-data")}
    path = write(tmp_path, HEAD + "mqtt: {url: 'mqtt://file-broker'}\nhttp: {listen: '127.0.0.1:8081'}\n")
    from_env = load_site(path, Overrides.from_env(environ=env))
    assert (from_env.mqtt.host, from_env.mqtt.port) == ("env-broker", 1884)
    assert (from_env.http.host, from_env.http.port) == ("0.0.0.0", 9000)
    assert from_env.data_dir == tmp_path / "env-data"
    flags = load_site(path, Overrides.from_env(mqtt_url="mqtts://flag-broker", http="[::1]:7000",
                                               data=str(tmp_path / "flag-data"), environ=env))
    assert (flags.mqtt.host, flags.mqtt.port, flags.mqtt.tls) == ("flag-broker", 8883, True)
    assert (flags.http.host, flags.http.port) == ("::1", 7000)
    assert flags.data_dir == tmp_path / "flag-data"
    file_only = load_site(path, Overrides.from_env(environ={"SITEGATE_MQTT_URL": ""}))
    assert file_only.mqtt.host == "file-broker"


def test_from_env_reads_the_real_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEGATE_HTTP", "127.0.0.1:9999")
    monkeypatch.delenv("SITEGATE_MQTT_URL", raising=False)
    monkeypatch.delenv("SITEGATE_DATA", raising=False)
    assert Overrides.from_env() == Overrides(http="127.0.0.1:9999", from_env_vars=frozenset({"http"}))


def test_a_relative_data_override_is_relative_to_the_working_folder(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "site", HEAD)
    monkeypatch.chdir(tmp_path)
    assert load_site(path, Overrides(data="run/state")).data_dir == tmp_path / "run" / "state"


def test_overrides_apply_to_the_bundled_defaults_too(tmp_path: Path) -> None:
    site = load_site(None, Overrides(mqtt_url="mqtt://10.0.0.5:2883", http="0.0.0.0:80", data=str(tmp_path)))
    assert (site.mqtt.host, site.mqtt.port, site.http.port, site.data_dir) == ("10.0.0.5", 2883, 80, tmp_path)


def test_a_bad_override_is_blamed_on_the_flag_or_variable_it_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD)
    flag = only_problem(path, Overrides.from_env(mqtt_url="broker:1883", environ={}))
    assert flag.file == "--mqtt-url" and "mqtt://HOST:PORT" in flag.message
    env = only_problem(path, Overrides.from_env(environ={"SITEGATE_HTTP": "localhost"}))
    assert env.file == "SITEGATE_HTTP" and "HOST:PORT" in env.message


def test_an_override_turning_tls_off_conflicts_with_tls_files_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x", encoding="utf-8")
    path = write(tmp_path, HEAD + "mqtt:\n  url: mqtts://b\n  ca_file: ca.pem\n")
    assert load_site(path).mqtt.tls
    problem = only_problem(path, Overrides(mqtt_url="mqtt://b"))
    assert problem.line == 2 and "does not use TLS" in problem.message


# --- sections owned by features --------------------------------------------------------------------


class _Shifts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handover: str = "08:00"


def with_feature_section(monkeypatch: pytest.MonkeyPatch, key: str, model: type[BaseModel]) -> None:
    """As if a package gateway/<key>/feature.py declared `SECTION = (key, model)`."""
    real = plugins.feature_modules()
    fake = SimpleNamespace(__name__=f"gateway.{key}.feature", ORDER=99, SECTION=(key, model))
    monkeypatch.setattr(plugins, "feature_modules", lambda: (*real, fake))


def test_a_feature_section_is_validated_at_the_lines_of_the_site_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_feature_section(monkeypatch, "shifts", _Shifts)
    site = load_site(write(tmp_path, HEAD + "shifts: {handover: '07:30'}\n"))
    assert site.section(_Shifts).handover == "07:30"
    assert load_site(write(tmp_path, HEAD)).section(_Shifts).handover == "08:00"
    problem = only_problem(write(tmp_path, HEAD + "shifts:\n  handover: '07:30'\n  handvoer: x\n"))
    assert problem.line == 4 and "did you mean 'handover'" in problem.message


def test_a_feature_cannot_take_a_fixed_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with_feature_section(monkeypatch, "mqtt", _Shifts)
    with pytest.raises(ValueError, match="fixed section"):
        section_models()


def test_the_tickets_section_is_validated_by_the_tickets_model(tmp_path: Path) -> None:
    from gateway.tickets.policy import TicketPolicy

    site = load_site(write(tmp_path, HEAD + "tickets:\n  owners: {default: 工程部 Engineering}\n"))
    assert site.section(TicketPolicy).owners.default == "工程部 Engineering"
    problem = only_problem(write(tmp_path, HEAD + "tickets:\n  owner: {}\n"))
    assert problem.line == 3 and "did you mean 'owners'" in problem.message


def test_an_unknown_top_level_section_is_an_error(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, HEAD + "alerting: {}\n"))
    assert problem.line == 2 and "alerting: is not a known setting" in problem.message


def test_site_is_immutable(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, HEAD))
    with pytest.raises(ValueError, match="frozen"):
        site.builtin_rules = False  # type: ignore[misc]
    assert isinstance(site, Site)


# --- value parsers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("mqtt://127.0.0.1:1883", ("127.0.0.1", 1883, False)),
    ("mqtt://broker", ("broker", 1883, False)),
    ("mqtts://broker", ("broker", 8883, True)),
    ("mqtts://broker:8884/", ("broker", 8884, True)),
    ("mqtt://[::1]:1885", ("::1", 1885, False)),
])
def test_mqtt_urls(url: str, expected: tuple[str, int, bool]) -> None:
    assert parse_mqtt_url(url) == expected


@pytest.mark.parametrize(("url", "words"), [
    ("tcp://broker:1883", "mqtt://HOST:PORT"), ("ws://broker:9001", "mqtt://HOST:PORT"),
    ("broker:1883", "mqtt://HOST:PORT"), ("mqtt://", "mqtt://HOST:PORT"), ("mqtt://b:port", "bad port"),
    ("mqtt://b:1883/site", "path"), ("mqtt://user:pw@b", "mqtt.username"),
])
def test_other_urls_are_refused_with_the_expected_form(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_mqtt_url(url)


@pytest.mark.parametrize(("text", "expected"), [("127.0.0.1:8080", ("127.0.0.1", 8080)),
                                                ("0.0.0.0:80", ("0.0.0.0", 80)), ("[::]:8080", ("::", 8080)),
                                                ("gateway.local:8443", ("gateway.local", 8443))])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", ":8080", "localhost", "h:0", "h:70000", "h:http"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(text)
