"""The incident classifier (gateway/tickets/emergency.py) on hand-made tickets, and the
`tickets.emergency_response` section's validation."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.errors import ConfigError
from gateway.core.yamlsource import load_yaml_text, validate
from gateway.tickets.emergency import classify, classify_all, raises, with_level
from gateway.tickets.policy import EmergencyResponse, IncidentClass, TicketPolicy
from gateway.tickets.ticket import HistoryEntry, Ticket

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)
MIN = timedelta(minutes=1)
CLASSES = EmergencyResponse().classes
_seq = iter(range(1, 10_000))


def sensor(device: str, fault: str = "smoke", *, zone: str = "b1", at: datetime = T0, cleared: bool = False,
           status: str = "open", level: int | None = None, **labels: str) -> Ticket:
    """A ticket a rule opened: the device's condition (value) stands behind it."""
    return Ticket(site="hv", rule=f"rule.{fault}", device_id=device, zone=zone, severity="critical",
                  status=status, title=f"{fault} {device}", opened_at=at, dedup_key=f"fault:{fault}:{device}",
                  seq=next(_seq), labels={"fault": fault, **labels}, last_value=True, channel="sensor",
                  condition_cleared=cleared, emergency_level=level,
                  history=[HistoryEntry(at=at, actor="system", action="opened")])


def card(guard: str, fault: str, *, checkpoint: str = "cp-b1-lobby", zone: str = "b1", at: datetime = T0) -> Ticket:
    """A ticket a guard opened with an event card: no value, no condition."""
    return Ticket(site="hv", rule=f"patrol.observation.{fault}", device_id=checkpoint, zone=zone,
                  severity="critical", status="open", title=f"patrol {fault}", opened_at=at,
                  dedup_key=f"fault:{fault}:{checkpoint}", seq=next(_seq),
                  labels={"fault": fault, "reported_by": guard}, channel="patrol",
                  history=[HistoryEntry(at=at, actor=guard, action="opened")])


def level(ticket: Ticket, zone: list[Ticket], classes: list[IncidentClass] = CLASSES) -> int | None:
    verdict = classify(ticket, zone, classes)
    return verdict.level if verdict is not None else None


def test_one_smoke_detector_is_level_3() -> None:
    t = sensor("sd-1")
    verdict = classify(t, [t], CLASSES)
    assert verdict is not None and verdict.level == 3
    assert verdict.reason == "1 smoke detector in alarm (sd-1) in zone b1"


def test_two_smoke_detectors_within_ten_minutes_raise_both_to_level_2() -> None:
    first, second = sensor("sd-1"), sensor("sd-2", at=T0 + 9 * MIN)
    zone = [first, second]
    assert level(first, zone) == 2 and level(second, zone) == 2
    verdict = classify(second, zone, CLASSES)
    assert verdict is not None and verdict.reason == "2 smoke detectors in alarm (sd-1, sd-2) in zone b1"


def test_two_smoke_detectors_half_an_hour_apart_stay_level_3() -> None:
    first, second = sensor("sd-1"), sensor("sd-2", at=T0 + 30 * MIN)
    assert level(first, [first, second]) == 3 and level(second, [first, second]) == 3


def test_a_detector_whose_condition_cleared_is_not_in_alarm() -> None:
    first, second = sensor("sd-1", cleared=True), sensor("sd-2", at=T0 + 2 * MIN)
    assert level(second, [first, second]) == 3


def test_three_smoke_detectors_in_alarm_in_one_zone_are_level_1_however_far_apart() -> None:
    zone = [sensor("sd-1"), sensor("sd-2", at=T0 + 40 * MIN), sensor("sd-3", at=T0 + 3 * 60 * MIN)]
    assert [level(t, zone) for t in zone] == [1, 1, 1]


def test_detectors_in_another_zone_or_resolved_do_not_count() -> None:
    mine = sensor("sd-1")
    others = [sensor("sd-2", zone="b2"), sensor("sd-3", zone="b2"), sensor("sd-4", status="resolved")]
    assert level(mine, [mine, *others]) == 3


def test_a_confirmed_fire_alarm_is_level_1_on_its_own() -> None:
    t = sensor("fire-panel", "fire_confirmed")
    assert level(t, [t]) == 1


def test_a_guards_fire_card_and_a_detector_are_level_1_for_both() -> None:
    report, detector = card("G017", "fire", at=T0 + 20 * MIN), sensor("sd-1")
    assert level(report, [report, detector]) == 1 and level(detector, [report, detector]) == 1
    verdict = classify(detector, [report, detector], CLASSES)
    assert verdict is not None
    assert verdict.reason == "1 smoke detector in alarm (sd-1) and 1 fire report by G017 in zone b1"


def test_a_guards_smoke_report_that_joined_the_detectors_ticket_counts_as_a_report() -> None:
    t = sensor("sd-1")
    t.history.append(HistoryEntry(at=T0 + 5 * MIN, actor="G021", action="reported"))
    assert level(t, [t]) == 1


def test_a_guards_fire_card_alone_is_level_3() -> None:
    report = card("G017", "fire")
    assert level(report, [report]) == 3


def test_one_leak_is_minor_two_leak_sensors_or_a_pressure_drop_make_it_major() -> None:
    leak = sensor("wl-1", "leak", zone="b1-basement")
    assert level(leak, [leak]) == 3
    other = sensor("wl-2", "water_leak", zone="b1-basement", at=T0 + 2 * 60 * MIN)
    assert level(leak, [leak, other]) == 2
    drop = sensor("pm-1", "pressure_drop", zone="b1-basement")
    assert level(leak, [leak, drop]) == 2
    assert level(drop, [leak, drop]) is None  # the pressure drop is not itself a leak incident
    assert level(leak, [leak, sensor("pm-1", "pressure_drop", zone="b1-basement", cleared=True)]) == 3


def test_a_guards_leak_card_and_one_leak_sensor_are_still_a_minor_leak() -> None:
    # The major-leak class counts sensors (two detectors), not a person seeing the same water.
    report, leak = card("G017", "leak", zone="b1-basement"), sensor("wl-1", "leak", zone="b1-basement")
    assert level(leak, [report, leak]) == 3


def test_faults_outside_every_class_have_no_level() -> None:
    t = sensor("ext-1", "extinguisher_pressure_loss")
    assert classify(t, [t], CLASSES) is None


def test_a_ticket_without_a_zone_is_an_incident_of_its_own() -> None:
    a, b = sensor("sd-1", zone=""), sensor("sd-2", zone="")
    assert level(a, [a, b]) == 3


def test_a_site_can_replace_the_classes_and_require_labels() -> None:
    classes = [IncidentClass(name="flow", level=2, faults=["leak"], labels={"flow": "high"}),
               IncidentClass(name="any", level=3, faults=["leak"])]
    assert level(sensor("wl-1", "leak", flow="high"), [], classes) == 2
    assert level(sensor("wl-1", "leak", flow="low"), [], classes) == 3
    assert level(sensor("sd-1"), [], classes) is None  # smoke is in no class of this site


def test_a_level_only_rises() -> None:
    t = sensor("sd-1", level=2)
    verdict = classify(t, [t], CLASSES)  # level 3 now: one detector
    assert not raises(t, verdict)
    two = [t, sensor("sd-2")]
    assert not raises(t, classify(t, two, CLASSES))  # level 2 again: nothing to do
    assert raises(t, classify(t, [*two, sensor("sd-3")], CLASSES))


def test_with_level_sets_the_level_and_says_why_in_the_history() -> None:
    t = sensor("sd-1", level=3)
    verdict = classify(t, [t, sensor("sd-2")], CLASSES)
    assert verdict is not None
    new = with_level(t, verdict, at=T0 + MIN, response=EmergencyResponse())
    assert new.emergency_level == 2 and new.emergency and t.emergency_level == 3  # the original is untouched
    entry = new.history[-1]
    assert entry.action == "emergency_level" and entry.at == T0 + MIN
    assert entry.note == ("emergency level 2 (二级): 两个烟感相继报警 2 smoke detectors within 10 min: "
                          "2 smoke detectors in alarm (sd-1, sd-2) in zone b1 (was level 3)")


# -- the `tickets.emergency_response` section ---------------------------------------------------

SITE = """\
site: {id: harbor-view}
tickets:
  emergency_response:
    smtp: {host: 127.0.0.1, port: 2525, starttls: false, from: sitegate@harbor.example}
    levels:
      1: {name: 一级 全员, email: [gm@harbor.example], mqtt: ["sitegate/{site}/emergency/{level}"]}
      2:
        webhooks: [{url: "https://ops.example.com/emergency"}]
        email: [ops@harbor.example]
    classes:
      - {name: 火警 fire, level: 1, faults: [fire_confirmed]}
      - {name: 烟感 two detectors, level: 2, faults: [smoke], sources: 2, detectors: 2, within: 5m}
"""


def load(text: str) -> TicketPolicy:
    data, lines = load_yaml_text(text, "site.yaml")
    return validate(TicketPolicy, data["tickets"], lines, prefix=("tickets",))


def test_the_section_loads_and_replaces_the_built_in_classes() -> None:
    response = load(SITE).emergency_response
    assert response.smtp is not None and response.smtp.sender == "sitegate@harbor.example"
    assert response.smtp.port == 2525 and not response.smtp.starttls
    assert [c.name for c in response.classes] == ["火警 fire", "烟感 two detectors"]
    assert response.classes[1].within == timedelta(minutes=5)
    assert response.levels[1].email == ["gm@harbor.example"]
    assert response.levels[2].webhooks[0].url == "https://ops.example.com/emergency"
    assert response.level_name(1) == "一级 全员" and response.level_name(2) == "二级"


def test_without_the_section_the_built_in_classes_apply_and_nothing_is_sent() -> None:
    response = TicketPolicy.model_validate({}).emergency_response
    assert response.enabled and response.levels == {} and response.smtp is None
    assert {c.level for c in response.classes} == {1, 2, 3}


@pytest.mark.parametrize(("snippet", "line", "words"), [
    ("tickets:\n  emergency_response:\n    levels:\n      2: {email: [ops@example.com]}\n", 2, "no `smtp:` relay"),
    ("tickets:\n  emergency_response:\n    smtp: {host: x, from: a@b.c}\n    levels:\n      2: {email: [ops]}\n",
     5, "not an e-mail address"),
    ("tickets:\n  emergency_response:\n    levels:\n      4: {mqtt: [a/b]}\n", 4, "1, 2 or 3"),
    ("tickets:\n  emergency_response:\n    levels:\n      1: {mqtt: [a/#]}\n", 4, "no wildcards"),
    ("tickets:\n  emergency_response:\n    classes:\n      - {name: x, level: 2, faults: [smoke],"
     " detectors: 2}\n", 4, "at least detectors + reports"),
    ("tickets:\n  emergency_response:\n    classes:\n      - {name: x, level: 2, fault: [smoke]}\n", 4,
     "not a known setting"),
    ("tickets:\n  emergency_response:\n    smtp: {host: x, from: a@b.c, password_env: PW}\n", 3, "username"),
    ("tickets:\n  emergency_response:\n    smtp: {host: x}\n", 3, "from"),
])
def test_bad_sections_name_file_and_line(snippet: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(snippet)
    text = str(info.value)
    assert f"site.yaml:{line}:" in text, text
    assert words in text, text


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["smoke", "fire", "water_leak", "door"]), st.sampled_from(["b1", "b2", ""]),
                          st.integers(0, 30), st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_classify_all_gives_each_ticket_what_classify_gives_it(
        specs: list[tuple[str, str, int, bool, bool]]) -> None:
    """The whole-site classification (one pool per zone) agrees with classifying each ticket alone
    against the active tickets of the site, cards and cleared sensors among them."""
    active = [card(f"G{i}", fault, zone=zone, at=T0 + minutes * MIN) if by_guard else
              sensor(f"sd-{i}", fault, zone=zone, at=T0 + minutes * MIN, cleared=cleared)
              for i, (fault, zone, minutes, cleared, by_guard) in enumerate(specs)]
    everything = classify_all(active, CLASSES)
    for t in active:
        assert everything.get(t.seq) == classify(t, active, CLASSES)


def test_unregistered_detectors_are_not_one_zone() -> None:
    """Devices the inventory does not place all carry the zone "unassigned": not a place, so three of
    them in alarm anywhere on the site are three level-3 incidents, not a level-1 "3 detectors"."""
    alarms = [sensor(f"sd-{i}", zone="unassigned", at=T0 + i * MIN) for i in range(3)]
    assert [level(t, alarms) for t in alarms] == [3, 3, 3]
    assert {v.level for v in classify_all(alarms, CLASSES).values()} == {3}
    placed = [sensor(f"sd-{i}", zone="b1", at=T0 + i * MIN) for i in range(3)]
    assert [level(t, placed) for t in placed] == [1, 1, 1]
