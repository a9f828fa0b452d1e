"""Every InfluxQL query in the Grafana dashboards names only CONTRACT.md's measurements, fields and tags.

The dashboards quote every identifier ("name"), so a query is checked by taking it apart: FROM
names a measurement, every other double-quoted name must be a tag or field of that measurement
(or an alias the query declares with AS), tag values compared in WHERE must be values the gateway
writes, a tag matched against a variable (`"zone" =~ /^$zone$/`) must be a tag and the variable's
own, and any bare word left over must be an InfluxQL keyword or function (an unquoted identifier
would slip past the check, so it fails). Head office keeps every site in one bucket, so every
query but the site list itself is filtered by the `site` variable, and the fleet dashboard links
each site to the per-site dashboards with `var-site`.

The JSON is generated (scripts/dashboards, `make dashboards`); test_dashboards_generated.py checks
that the committed files are what the generator writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.devices.vocabulary import METRICS
from gateway.ingest.inventory import KINDS
from gateway.tickets.consumer import RECORDED
from gateway.timeseries.point import MEASUREMENTS

DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"
FILES = sorted(DASHBOARDS.glob("*.json"))
# A copy of the external contract (CI runs on a fresh clone without the shared folder).
CONTRACT = Path(__file__).resolve().parent / "data" / "CONTRACT.md"

KEYWORDS = {
    "select", "from", "where", "and", "or", "group", "by", "time", "fill", "none", "null", "previous",
    "linear", "as", "show", "tag", "values", "with", "key", "limit", "order", "desc", "asc", "not",
    "mean", "median", "last", "first", "count", "sum", "min", "max", "spread", "stddev", "percentile",
    "distinct", "integral", "non_negative_derivative", "derivative", "difference", "true", "false",
}
# Tag values the gateway writes that a WHERE clause may compare with: name -> allowed values.
TAG_VALUES: dict[str, set[str]] = {
    "kind": set(KINDS),
    "event": set(RECORDED),
    "severity": {"critical", "major", "minor", "warning"},
    "result": {"ok", "unknown_tag", "out_of_order", "duplicate", "off_schedule"},
    "rule": {"patrol.missed_checkpoint"},
}


# Boolean fields (CONTRACT.md's `online`, `on_time`, and the bool metrics of `reading`): InfluxDB
# answers mean(), sum() and the like of one with "unsupported mean iterator type", so only
# count(), last() and first() may take them (a share is a count WHERE "field" = true over a count).
BOOLEANS = {"online", "on_time"} | {name for name, metric in METRICS.items() if metric.type == "bool"}
BOOLEAN_SAFE = {"count", "last", "first"}
# A SHOW TAG VALUES without FROM reads every measurement, so its key must be a tag of all of them.
COMMON_TAGS = frozenset.intersection(*(tags for tags, _ in MEASUREMENTS.values()))
SITE_FILTER = '"site" =~ /^$site$/'
SITE_LIST = 'SHOW TAG VALUES WITH KEY = "site"'


def problems(query: str) -> list[str]:
    """What is wrong with one InfluxQL query, as sentences; empty when it is fine."""
    found: list[str] = []
    measurements = re.findall(r'\bFROM\s+"([^"]+)"', query, flags=re.IGNORECASE)
    every = re.fullmatch(r'SHOW TAG VALUES WITH KEY = "([^"]+)"', query)
    if every:
        return [] if every[1] in COMMON_TAGS else [f"'{every[1]}' is not a tag of every measurement"]
    if not measurements:
        return [f"names no measurement in a quoted FROM: {query}"]
    aliases = set(re.findall(r'\bAS\s+"([^"]+)"', query, flags=re.IGNORECASE))
    allowed = set(aliases)
    tag_names: set[str] = set()
    for m in measurements:
        if m not in MEASUREMENTS:
            found.append(f"measurement '{m}' is not in CONTRACT.md")
            continue
        tags, fields = MEASUREMENTS[m]
        tag_names |= tags
        allowed |= tags | {m} | (fields if fields is not None else set(METRICS))
    for name in re.findall(r'"([^"]+)"', query):
        if name not in allowed:
            found.append(f"'{name}' is neither a tag nor a field of {', '.join(measurements)}")
    # last("online") AS "online" in a subquery is still a boolean; count("on_time") AS "taps" is not.
    declared = re.findall(r'\b(\w+)\(\s*"([^"]+)"\s*\)\s+AS\s+"([^"]+)"', query, flags=re.IGNORECASE)
    boolean_aliases = {alias for fn, field, alias in declared if fn.lower() in {"last", "first"} and field in BOOLEANS}
    booleans = (BOOLEANS - aliases) | boolean_aliases
    for function, name in re.findall(r'\b(\w+)\(\s*"([^"]+)"\s*\)', query):
        if name in booleans and function.lower() not in BOOLEAN_SAFE:
            found.append(f"{function}() of the boolean field '{name}' fails in InfluxDB; count where it is true")
    for tag, variable in re.findall(r'"([^"]+)"\s*=~\s*/\^\$(\w+)\$/', query):
        if tag not in tag_names:
            found.append(f"'{tag}' is matched against ${variable} but is not a tag of {', '.join(measurements)}")
        elif tag != variable:
            found.append(f"tag '{tag}' is matched against ${variable}, another tag's variable")
    for tag, value in re.findall(r'"([^"]+)"\s*=\s*\'([^\']*)\'', query):
        if tag in TAG_VALUES and value not in TAG_VALUES[tag]:
            found.append(f"tag '{tag}' never has the value '{value}'")
    for tag, regex in re.findall(r'"([^"]+)"\s*=~\s*/\^\(([^)$]*)\)\$/', query):
        for value in regex.split("|"):
            if tag in TAG_VALUES and value not in TAG_VALUES[tag]:
                found.append(f"tag '{tag}' never has the value '{value}'")
    bare = re.sub(r'"[^"]*"|\'[^\']*\'|/[^/]*/|\$\w+|\b\d+[a-z]*\b', " ", query)
    for word in re.findall(r"[A-Za-z_]\w*", bare):
        if word.lower() not in KEYWORDS:
            found.append(f"'{word}' is an unquoted identifier or an unknown keyword")
    return found


def queries(dashboard: dict[str, Any]) -> Iterator[str]:
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            yield var["query"]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("type") == "__expr__":
                continue  # a Grafana math expression over the other targets, no query
            yield target["query"]


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_the_three_dashboards_are_there() -> None:
    assert [p.name for p in FILES] == ["equipment-health.json", "fleet.json", "patrol-coverage.json"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_query_names_only_contract_measurements_fields_and_tags(path: Path) -> None:
    dashboard = load(path)
    checked = 0
    for query in queries(dashboard):
        assert problems(query) == [], f"{path.name}: {query}"
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_panel_uses_raw_influxql_through_the_datasource_variable(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["uid"].startswith("sitegate-")
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "influxdb", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            if target["datasource"]["type"] != "__expr__":
                assert target["rawQuery"] is True and "$timeFilter" in target["query"], panel["title"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_query_is_filtered_by_the_site_variable(path: Path) -> None:
    dashboard = load(path)
    site = {v["name"]: v for v in dashboard["templating"]["list"]}["site"]
    assert site["query"] == SITE_LIST
    assert (site["multi"], site["includeAll"], site["allValue"]) == (True, True, ".*")
    others = [q for q in queries(dashboard) if q != SITE_LIST]
    assert len(others) >= 8
    for query in others:
        assert SITE_FILTER in query, f"{path.name}: {query}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_dashboard_links_to_the_others_carrying_the_site(path: Path) -> None:
    menu = [link for link in load(path)["links"] if link["type"] == "dashboards"]
    assert len(menu) == 1 and menu[0]["tags"] == ["sitegate"]
    assert menu[0]["includeVars"] is True and menu[0]["keepTime"] is True
    assert "sitegate" in load(path)["tags"]


def test_the_fleet_dashboard_shows_each_site_and_drills_down_to_its_dashboards() -> None:
    fleet = load(DASHBOARDS / "fleet.json")
    uids = {load(p)["uid"] for p in FILES}
    read = {m for q in queries(fleet) for m in re.findall(r'\bFROM\s+"([^"]+)"', q)}
    assert read == {"equipment_health", "patrol_round", "ticket_event"}
    per_site = [p for p in fleet["panels"] if p["type"] in ("table", "timeseries")]
    assert len(per_site) >= 6
    titles = " ".join(p["title"] for p in fleet["panels"])
    for figure in ("Open tickets", "Devices offline", "Patrol coverage", "health", "Tickets opened"):
        assert figure in titles
    for panel in per_site:
        for target in panel["targets"]:
            if target["datasource"]["type"] != "__expr__":
                assert re.search(r'GROUP BY .*"site"\s*(fill\(\w+\))?$', target["query"]), panel["title"]
        links = panel["fieldConfig"]["defaults"]["links"]
        targets = {re.match(r"/d/([\w-]+)/", link["url"])[1] for link in links}  # type: ignore[index]
        assert targets == {"sitegate-equipment-health", "sitegate-patrol-coverage"} <= uids, panel["title"]
        for link in links:
            assert re.search(r"[?&]var-site=\$\{__(field\.labels|data\.fields)\.site\}(&|$)", link["url"])
            assert "var-datasource=${datasource}" in link["url"] and "${__url_time_range}" in link["url"]


def test_the_checker_catches_wrong_names() -> None:
    assert problems('SELECT mean("health") FROM "equipment_health" WHERE $timeFilter') == []
    assert "not in CONTRACT.md" in problems('SELECT mean("x") FROM "equipment" WHERE $timeFilter')[0]
    assert "neither a tag nor a field" in problems('SELECT mean("pressure") FROM "reading"')[0]
    assert "neither a tag nor a field" in problems('SELECT mean("v") FROM "patrol_tap" GROUP BY "zone"')[1]
    assert "unquoted identifier" in problems('SELECT mean(health) FROM "equipment_health"')[0]
    assert "never has the value" in problems('SELECT count("ticket_id") FROM "ticket_event" '
                                             "WHERE \"event\" = 'open'")[0]
    assert "never has the value" in problems('SELECT mean("pressure_mpa") FROM "reading" '
                                             'WHERE "kind" =~ /^(extinguisher|hydrnt)$/')[0]
    assert problems('SELECT mean("coverage") FROM "patrol_round" WHERE "site" =~ /^$site$/ AND $timeFilter') == []
    assert "not a tag" in problems('SELECT mean("health") FROM "equipment_health" WHERE "health" =~ /^$health$/')[0]
    assert "another tag's variable" in problems('SELECT last("on_time") FROM "patrol_tap" '
                                                'WHERE "site" =~ /^$route$/')[0]
    assert problems('SHOW TAG VALUES WITH KEY = "site"') == []
    assert "boolean field 'online'" in problems('SELECT mean("online") FROM "equipment_health" WHERE $timeFilter')[0]
    assert "boolean field 'power_on'" in problems('SELECT sum("power_on") FROM "reading" WHERE $timeFilter')[0]
    assert problems('SELECT count("on_time") FROM "patrol_tap" WHERE "on_time" = true AND $timeFilter') == []
    assert "boolean field 'up'" in problems('SELECT mean("up") FROM (SELECT last("online") AS "up" '
                                            'FROM "equipment_health" WHERE $timeFilter GROUP BY "device")')[0]
    assert "not a tag of every measurement" in problems('SHOW TAG VALUES WITH KEY = "zone"')[0]


def test_the_contract_table_in_code_matches_contract_md() -> None:
    rows = re.findall(r"^\| `(\w+)` \| `([^|]+)` \| (.+) \|$", CONTRACT.read_text(encoding="utf-8"), re.MULTILINE)
    table = {m: ({t.strip() for t in tags.replace("`", "").split(",")}, fields) for m, tags, fields in rows}
    assert set(table) == set(MEASUREMENTS)
    for m, (tags, fields_text) in table.items():
        assert tags == MEASUREMENTS[m][0], m
        declared = MEASUREMENTS[m][1]
        if declared is not None:
            assert set(re.findall(r"`(\w+)`", fields_text)) == declared, m


def test_provisioning_files_point_at_these_dashboards_and_an_influxql_source() -> None:
    ds = yaml.safe_load((DASHBOARDS / "provisioning" / "datasource.yaml").read_text(encoding="utf-8"))
    source = ds["datasources"][0]
    assert source["type"] == "influxdb" and source["jsonData"]["version"] == "InfluxQL"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Token ${SITEGATE_INFLUX_TOKEN}"
    boards = yaml.safe_load((DASHBOARDS / "provisioning" / "dashboards.yaml").read_text(encoding="utf-8"))
    assert boards["providers"][0]["type"] == "file"
    for path in FILES:
        variables = {v["name"]: v for v in load(path)["templating"]["list"]}
        assert variables["datasource"]["current"]["value"] == source["uid"]
