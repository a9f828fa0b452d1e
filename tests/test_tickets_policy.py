from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.core.errors import ConfigError
from gateway.core.yamlsource import load_yaml_text, validate
from gateway.tickets.policy import MaintenanceWindow, OwnerPolicy, TicketPolicy

TZ = ZoneInfo("Asia/Shanghai")

SITE = """\
site: {id: harbor-view}
tickets:
  sla:
    severities:
      minor: {respond: 12h}
    zones:
      pump-house:
        critical: {respond: 2h}
    rules:
      "lighting.*": {resolve: 5d}
  escalation: {multiples: [1, 2, 3], notify: [班长 supervisor, 工程经理 manager, 总经理 GM]}
  owners:
    zones: {north: 北区工程组 North team}
    default: 工程部 Engineering
  inhibit:
    - {source_rule: power.zone_outage, target_rules: ["lighting.*"], equal: [zone]}
  maintenance:
    - {name: drill-b1, kind: drill, zones: [b1], start: "2026-11-25 09:00", end: "2026-11-25 11:00",
       reason: 消防演习 fire drill}
  calendar: {workdays: [mon, tue, wed, thu, fri, sat], holidays: [2026-10-01]}
  webhooks:
    - {url: "https://ops.example.com/hook", max_attempts: 4, backoff: 2s}
"""


def load(text: str) -> TicketPolicy:
    data, lines = load_yaml_text(text, "site.yaml")
    return validate(TicketPolicy, data["tickets"], lines, prefix=("tickets",))


def test_a_full_tickets_section_loads() -> None:
    policy = load(SITE)
    assert policy.sla.zones["pump-house"]["critical"].respond == timedelta(hours=2)
    assert policy.sla.rules["lighting.*"].resolve == timedelta(days=5)
    assert policy.escalation.notify[2] == "总经理 GM"
    assert policy.inhibit[0].targets("lighting.lamp_out") and not policy.inhibit[0].targets("fire.smoke")
    assert policy.maintenance[0].kind == "drill"
    assert policy.webhooks[0].backoff == timedelta(seconds=2)
    assert "sat" in policy.calendar.workdays


def test_inhibition_can_name_faults_as_well_as_rules() -> None:
    [rule] = load("tickets:\n  inhibit:\n    - {source_fault: circuit_outage, target_faults: [lamp_out, no_contact],"
                  " target_rules: [site.lamp_*], equal: [circuit]}\n").inhibit
    assert rule.is_source("lighting.circuit_outage", {"fault": "circuit_outage"})
    assert not rule.is_source("lighting.circuit_outage", {})
    assert rule.targets("health.silent", {"fault": "no_contact"}) and rule.targets("site.lamp_dim", {})
    assert not rule.targets("lighting.lux_dark", {}) and not rule.targets("health.flapping", {"fault": "flapping"})


def test_an_empty_section_is_a_working_default() -> None:
    policy = TicketPolicy.model_validate({})
    assert policy.escalation.multiples == [1.0, 2.0, 3.0]
    assert policy.calendar.workdays == ["mon", "tue", "wed", "thu", "fri"]
    assert policy.revisit.working_days == 1


@pytest.mark.parametrize(("snippet", "line", "words"), [
    ("tickets:\n  sla:\n    severities:\n      minor: {respond: soon}\n", 4, "not a duration"),
    ("tickets:\n  sla:\n    severities:\n      minor: {respond: -3600}\n", 4, "must be zero or longer"),
    ("tickets:\n  webhooks:\n    - {url: http://x, timeout: -5}\n", 3, "must be zero or longer"),
    ("tickets:\n  webhooks:\n    - {url: http://x, timeout: 0}\n", 3, "must be longer than zero"),
    ("tickets:\n  escalation: {multiples: [2, 1]}\n", 2, "increasing"),
    ("tickets:\n  webhooks:\n    - {url: ftp://x}\n", 3, "http://"),
    ("tickets:\n  owner: {}\n", 2, "not a known setting"),
    ("tickets:\n  inhibit:\n    - {source_rule: a, target_rules: [b]}\n", 3, "equal: is required"),
    ("tickets:\n  inhibit:\n    - {source_rule: a, source_fault: b, target_rules: [c], equal: []}\n", 3,
     "one of source_rule or source_fault"),
    ("tickets:\n  inhibit:\n    - {source_fault: a, equal: []}\n", 3, "target_rules or target_faults"),
    ("tickets:\n  maintenance:\n    - {zones: [b1], start: 2026-01-02T10:00:00, end: 2026-01-02T09:00:00,"
     " reason: x}\n", 3, "end must be after"),
    ("tickets:\n  maintenance:\n    - {start: 2026-01-02T10:00:00, end: 2026-01-02T11:00:00, reason: x}\n",
     3, "needs `devices` or `zones`"),
])
def test_mistakes_are_reported_with_file_and_line(snippet: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(snippet)
    problem = info.value.problems[0]
    assert (str(problem.file), problem.line) == ("site.yaml", line)
    assert words in problem.message


def test_maintenance_window_in_site_time_covers_listed_devices_and_zones_only() -> None:
    window = MaintenanceWindow.model_validate({
        "devices": ["smoke-7"], "zones": ["b1"], "rules": ["fire.*"],
        "start": "2026-11-25T09:00:00", "end": "2026-11-25T11:00:00", "reason": "drill"})
    inside = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
    assert window.covers(rule="fire.smoke", device="x", zone="b1", at=inside, tz=TZ)
    assert window.covers(rule="fire.smoke", device="smoke-7", zone="b2", at=inside, tz=TZ)
    assert not window.covers(rule="fire.smoke", device="x", zone="b2", at=inside, tz=TZ)
    assert not window.covers(rule="lighting.lamp_out", device="x", zone="b1", at=inside, tz=TZ)
    # The end is exclusive, and 11:00 in Shanghai is 03:00 UTC.
    assert not window.covers(rule="fire.smoke", device="x", zone="b1", at=inside + timedelta(hours=1), tz=TZ)
    assert window.covers(rule="fire.smoke", device="x", zone="b1",
                         at=datetime(2026, 11, 25, 2, 59, tzinfo=ZoneInfo("UTC")), tz=TZ)


def test_owner_label_beats_zone_team_beats_default() -> None:
    owners = OwnerPolicy(zones={"north": "North team"}, default="Engineering")
    assert owners.owner("north", {"owner": "Li Wei"}) == "Li Wei"
    assert owners.owner("north", {}) == "North team"
    assert owners.owner("south", {}) == "Engineering"
