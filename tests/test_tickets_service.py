from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from gateway.core.model import AlertEvent
from gateway.tickets.changes import Details
from gateway.tickets.lifecycle import IllegalTransition
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketConflict, TicketNotFound, TicketService
from gateway.tickets.store import TicketStore

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)  # a Monday evening
MIN = timedelta(minutes=1)
H = timedelta(hours=1)


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                urgent: bool = False) -> None:
        assert not retain
        self.sent.append((topic, orjson.loads(payload)))

    def actions(self) -> list[str]:
        return [doc["history"][-1]["action"] for _, doc in self.sent]


def ev(rule: str = "fire.pressure_low", device: str = "ext-b1-01", *, zone: str = "b1", state: str = "firing",
       severity: str = "minor", at: datetime = T0, value: float | None = 0.8, **kw: Any) -> AlertEvent:
    return AlertEvent(rule=rule, device=device, zone=zone, state=state, severity=severity,
                      title=f"{rule} on {device}", ts=at, value=value, **kw)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TicketStore]:
    s = TicketStore(f"sqlite:///{tmp_path}/tickets.db")
    yield s
    s.close()


@pytest.fixture
def pub() -> FakePublisher:
    return FakePublisher()


def make(store: TicketStore, pub: FakePublisher | None = None, **policy: Any) -> TicketService:
    return TicketService(store, site_id="hv", tz=TZ, policy=TicketPolicy.model_validate(policy),
                         publisher=pub)


def test_firing_opens_a_ticket_with_sla_owner_and_publishes_it(store: TicketStore,
                                                               pub: FakePublisher) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    svc = TicketService(store, site_id="hv", tz=TZ, policy=TicketPolicy.model_validate(
        {"owners": {"zones": {"b1": "B1 team"}}}), publisher=pub, events=lambda k, d: seen.append((k, d)))
    [t] = svc.handle([ev(severity="critical", description="pressure 0.8 MPa < 1.0")])
    assert t.id == "T-000001" and t.status == "open" and t.assignee == "B1 team"
    doc = t.to_json()
    assert doc["opened_at"] == "2026-11-23T21:00:00+08:00"
    assert doc["due_at"] == "2026-11-23T22:00:00+08:00"  # critical: on site within 1 h
    assert doc["history"][0] | {"at": None} == {"at": None, "actor": "system", "action": "opened",
                                                 "note": "pressure 0.8 MPa < 1.0", "from": None, "to": "open"}
    assert pub.sent[0][0] == "sitegate/hv/tickets/T-000001" and pub.sent[0][1]["status"] == "open"
    assert seen[0][0] == "ticket" and seen[0][1]["change"] == "opened"


def test_repeats_count_on_one_ticket_and_keep_the_last_value(store: TicketStore, pub: FakePublisher) -> None:
    svc = make(store, pub)
    svc.handle([ev(value=0.8)])
    changed = svc.handle([ev(at=T0 + MIN, value=0.7), ev(at=T0 + 2 * MIN, value=0.6)])
    assert len(changed) == 1  # each ticket once per batch, latest state
    [t] = svc.list()
    assert (t.occurrences, t.last_value, t.last_seen_at) == (3, 0.6, T0 + 2 * MIN)
    assert [h.action for h in t.history] == ["opened"]  # repeats are counted, not logged
    assert len(pub.sent) == 3


def test_two_services_on_one_database_never_open_a_duplicate(store: TicketStore, tmp_path: Path) -> None:
    other_store = TicketStore(f"sqlite:///{tmp_path}/tickets.db")
    a, b = make(store), make(other_store)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def fire(svc: TicketService) -> None:
        try:
            barrier.wait(5)
            for i in range(20):
                svc.handle([ev(at=T0 + i * MIN)])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=fire, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    tickets = a.list()
    assert len(tickets) == 1 and tickets[0].occurrences == 40
    other_store.close()


def test_a_stale_cache_is_noticed_when_another_gateway_resolved_the_ticket(store: TicketStore,
                                                                          tmp_path: Path) -> None:
    a, b = make(store), make(TicketStore(f"sqlite:///{tmp_path}/tickets.db"))
    [first] = a.handle([ev()])
    b.act(first.id, "resolve", actor="li", note="refilled", now=T0 + H)
    [second] = a.handle([ev(at=T0 + 2 * H)])
    assert second.id != first.id and second.status == "open" and second.occurrences == 1
    b_view = b.handle([ev(at=T0 + 3 * H)])
    assert [t.id for t in b_view] == [second.id] and b_view[0].occurrences == 2


def test_a_restarted_service_continues_the_open_ticket(store: TicketStore, tmp_path: Path) -> None:
    make(store).handle([ev()])
    [t] = make(TicketStore(f"sqlite:///{tmp_path}/tickets.db")).handle([ev(at=T0 + MIN)])
    assert (t.id, t.occurrences) == ("T-000001", 2)


def test_cleared_condition_is_flagged_and_returns(store: TicketStore, pub: FakePublisher) -> None:
    svc = make(store, pub)
    svc.handle([ev()])
    [t] = svc.handle([ev(state="cleared", at=T0 + MIN, value=1.2)])
    assert t.condition_cleared and t.status == "open" and t.last_value == 1.2
    assert svc.handle([ev(state="cleared", at=T0 + 2 * MIN)]) == []  # nothing new to say
    [t] = svc.handle([ev(at=T0 + 3 * MIN, value=0.7)])
    assert not t.condition_cleared and t.occurrences == 2
    assert [h.action for h in t.history] == ["opened", "condition_cleared", "condition_returned"]


def test_auto_resolve_rule_resolves_when_cleared(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([ev(rule="health.offline", auto_resolve=True)])
    [t] = svc.handle([ev(rule="health.offline", state="cleared", at=T0 + 5 * MIN, auto_resolve=True)])
    assert t.status == "resolved" and t.condition_cleared
    last = t.history[-1]
    assert (last.actor, last.action) == ("system", "resolved")
    assert (last.from_status, last.to_status) == ("open", "resolved")
    # Fires again later: a new ticket, the resolved one keeps its revisit.
    [again] = svc.handle([ev(rule="health.offline", at=T0 + H, auto_resolve=True)])
    assert again.id != t.id


def test_escalation_levels_with_explicit_now(store: TicketStore, pub: FakePublisher) -> None:
    svc = make(store, pub, escalation={"notify": ["班长 supervisor", "经理 manager", "总经理 GM"]})
    [t] = svc.handle([ev(severity="critical")])
    assert svc.tick(T0 + 59 * MIN) == []
    [t] = svc.tick(T0 + H)
    assert (t.escalation_level, t.overdue) == (1, True)
    assert t.history[-1].note == "level 1: respond deadline 2026-11-23 22:00 passed; notify 班长 supervisor"
    assert svc.tick(T0 + H + MIN) == []
    [t] = svc.tick(T0 + 2 * H)
    assert t.escalation_level == 2
    [t] = svc.tick(T0 + 9 * H)
    assert t.escalation_level == 3 and svc.tick(T0 + 20 * H) == []
    assert pub.actions() == ["opened", "escalated", "escalated", "escalated"]
    assert [t.id for t in svc.list(overdue=True)] == [t.id]


def test_late_tick_records_every_level_passed(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([ev(severity="major")])  # respond within 2 h
    [t] = svc.tick(T0 + 7 * H)
    levels = [h.note.split(":")[0] for h in t.history if h.action == "escalated"]
    assert levels == ["level 1", "level 2", "level 3"]


def test_acknowledging_moves_due_to_the_resolve_deadline(store: TicketStore) -> None:
    svc = make(store)
    [t] = svc.handle([ev(severity="minor")])  # respond 24 h, resolve 48 h
    assert t.due_at == T0 + 24 * H
    t = svc.act(t.id, "ack", actor="wang", note="on it", now=T0 + 30 * H)  # acknowledged late
    assert t.due_at == T0 + 48 * H and t.escalation_level == 0 and not t.overdue
    assert svc.tick(T0 + 47 * H) == []
    [t] = svc.tick(T0 + 48 * H)
    assert t.escalation_level == 1 and t.history[-1].note.startswith("level 1: resolve deadline")


def test_revisit_deadline_after_a_friday_repair_and_overdue_flag(store: TicketStore,
                                                                pub: FakePublisher) -> None:
    svc = make(store, pub)
    [t] = svc.handle([ev()])
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=TZ)
    t = svc.act(t.id, "resolve", actor="wang", note="valve replaced", now=friday)
    assert t.revisit_due_at == datetime(2026, 11, 30, 18, 0, tzinfo=TZ) == t.due_at
    assert svc.tick(datetime(2026, 11, 30, 17, 59, tzinfo=TZ)) == []
    [t] = svc.tick(datetime(2026, 11, 30, 18, 0, tzinfo=TZ))
    assert t.revisit_overdue and t.history[-1].action == "revisit_overdue"
    assert pub.sent[-1][1]["revisit_overdue"] is True
    t = svc.act(t.id, "revisit", actor="zhao", note="Checked on site", now=friday + 4 * 24 * H,
                details=Details(result="failed"))
    # A failed revisit is rework: the ticket is open again, its stages start over from now.
    assert (t.status, t.revisit_result, t.revisit_overdue, t.reopen_count) == ("open", "failed", False, 1)
    assert t.respond_due_at == friday + 4 * 24 * H + 24 * H and t.history[-1].action == "revisit_failed"
    assert "revisit" in t.history[-2].note and t.history[-2].action == "revisit_overdue"


def test_illegal_actions_and_unknown_ids(store: TicketStore) -> None:
    svc = make(store)
    [t] = svc.handle([ev()])
    with pytest.raises(IllegalTransition):
        svc.act(t.id, "close", actor="x", now=T0)
    with pytest.raises(TicketNotFound):
        svc.act("T-999999", "ack", actor="x", now=T0)
    assert svc.get(t.id) is not None and svc.get("T-999999") is None and svc.get("nonsense") is None
    assert svc.get(t.id).history[-1].action == "opened"  # type: ignore[union-attr]


def test_reopen_is_refused_while_a_newer_ticket_holds_the_fault(store: TicketStore) -> None:
    svc = make(store)
    [old] = svc.handle([ev()])
    svc.act(old.id, "resolve", actor="wang", now=T0 + H)
    [new] = svc.handle([ev(at=T0 + 2 * H)])
    with pytest.raises(TicketConflict, match=new.id):
        svc.act(old.id, "reopen", actor="wang", now=T0 + 3 * H)
    svc.act(new.id, "cancel", actor="wang", note="duplicate", now=T0 + 3 * H)
    reopened = svc.act(old.id, "reopen", actor="wang", note="leaks again", now=T0 + 4 * H)
    assert reopened.status == "open" and reopened.due_at == T0 + 4 * H + 24 * H  # the SLA clock restarts


def test_a_worse_severity_tightens_the_deadline(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([ev(severity="minor")])
    [t] = svc.handle([ev(severity="critical", at=T0 + 10 * MIN, value=0.3)])
    # The critical 1 h counts from the raise (10 min in), not from the opening.
    assert t.severity == "critical" and t.due_at == T0 + 10 * MIN + H and t.history[-1].note == "minor -> critical"


def test_inhibition_mutes_symptoms_of_an_open_root_cause(store: TicketStore, pub: FakePublisher) -> None:
    svc = make(store, pub, inhibit=[
        {"source_rule": "power.zone_outage", "target_rules": ["lighting.*"], "equal": ["zone"]}])
    lamps = [ev("lighting.lamp_out", f"lamp-n-{i:02d}", zone="north", severity="major") for i in range(40)]
    outage = ev("power.zone_outage", "meter-north", zone="north", severity="critical")
    # The outage arrives in the same batch, after the lamps: it is handled first anyway.
    changed = svc.handle([*lamps[:20], outage, *lamps[20:]])
    assert [t.rule for t in svc.list()] == ["power.zone_outage"]
    [source] = changed
    assert source.suppressed == 40 and sum(h.action == "suppressed" for h in source.history) == 40
    svc.handle(lamps[:5])  # repeats: counted, no new history lines
    source = svc.get(source.id)  # type: ignore[assignment]
    assert source.suppressed == 45 and len(source.history) == 41
    rows = svc.suppressed()
    assert len(rows) == 40 and {(r["reason"], r["source"]) for r in rows} == {("inhibited", source.id)}
    assert sum(r["count"] for r in rows) == 45
    # Another zone is not explained by this outage.
    [south] = svc.handle([ev("lighting.lamp_out", "lamp-s-01", zone="south", severity="major")])
    assert south.rule == "lighting.lamp_out"
    # Power back (condition cleared): lamps that are still out are real faults again.
    svc.handle([ev("power.zone_outage", "meter-north", zone="north", state="cleared", at=T0 + H)])
    [lamp] = svc.handle([ev("lighting.lamp_out", "lamp-n-00", zone="north", at=T0 + H + MIN)])
    assert lamp.rule == "lighting.lamp_out" and lamp.status == "open"


def test_inhibition_by_circuit_label(store: TicketStore) -> None:
    svc = make(store, inhibit=[
        {"source_rule": "power.circuit_outage", "target_rules": ["lighting.*"], "equal": ["circuit"]}])
    svc.handle([ev("power.circuit_outage", "breaker-3", zone="north", labels={"circuit": "C3"})])
    assert svc.handle([ev("lighting.lamp_out", "lamp-1", zone="south", labels={"circuit": "C3"})])[0].rule \
        == "power.circuit_outage"  # only the source ticket changed (suppressed count)
    opened = svc.handle([ev("lighting.lamp_out", "lamp-2", zone="north", labels={"circuit": "C4"}),
                         ev("lighting.lamp_out", "lamp-3", zone="north")])
    assert sorted(t.device_id for t in opened) == ["lamp-2", "lamp-3"]  # other circuit; no circuit label


def test_a_board_outage_mutes_the_lamps_on_its_ways_but_not_another_board(store: TicketStore) -> None:
    svc = make(store, inhibit=[
        {"source_rule": "lighting.circuit_outage", "target_rules": ["lighting.*"], "equal": ["circuit"]}])
    svc.handle([ev("lighting.circuit_outage", "meter-al5", zone="perimeter", labels={"circuit": "AL5"})])
    muted = svc.handle([ev("lighting.lamp_out", f"lamp-{i}", zone="perimeter", labels={"circuit": "AL5-WL1"})
                        for i in range(40)])
    assert {t.rule for t in muted} == {"lighting.circuit_outage"}  # one ticket, not forty
    opened = svc.handle([ev("lighting.lamp_out", "lamp-x", zone="perimeter", labels={"circuit": "AL50-WL1"}),
                         ev("lighting.lamp_out", "lamp-y", zone="perimeter", labels={"circuit": "AL6-WL1"})])
    assert sorted(t.device_id for t in opened) == ["lamp-x", "lamp-y"]


def test_maintenance_window_and_drill_suppress_and_record(store: TicketStore, pub: FakePublisher) -> None:
    svc = make(store, pub, maintenance=[
        {"name": "drill-b1", "kind": "drill", "zones": ["b1"], "rules": ["fire.*"],
         "start": "2026-11-23T20:00:00", "end": "2026-11-23T22:00:00", "reason": "消防演习 fire drill"},
        {"devices": ["lamp-9"], "start": "2026-11-23T00:00:00+08:00", "end": "2026-11-24T00:00:00+08:00",
         "reason": "relay replacement"},
    ])
    assert svc.handle([ev("fire.smoke", "smoke-b1-1", severity="critical"),
                       ev("fire.smoke", "smoke-b1-1", severity="critical", at=T0 + MIN),
                       ev("lighting.lamp_out", "lamp-9", zone="north")]) == []
    assert svc.list() == [] and pub.sent == []
    rows = {r["device_id"]: r for r in svc.suppressed()}
    assert rows["smoke-b1-1"]["reason"] == "drill" and rows["smoke-b1-1"]["count"] == 2
    assert rows["smoke-b1-1"]["first_at"] == "2026-11-23T21:00:00+08:00"
    assert rows["lamp-9"]["reason"] == "maintenance" and rows["lamp-9"]["note"] == "relay replacement"
    assert svc.stats.suppressed == {"inhibited": 0, "maintenance": 1, "drill": 2}
    # Outside the window, or another zone, or a rule the drill does not cover: tickets open.
    opened = svc.handle([ev("fire.smoke", "smoke-b1-1", severity="critical", at=T0 + 2 * H),
                         ev("fire.smoke", "smoke-b2-1", zone="b2", severity="critical"),
                         ev("health.offline", "smoke-b1-2")])
    assert len(opened) == 3


def test_open_counts_and_filters(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([ev("a", "d1", severity="critical"), ev("b", "d1", severity="minor"),
                ev("c", "d1", severity="minor"), ev("a", "d2", zone="b2", severity="warning")])
    svc.act("T-000004", "ack", actor="x", now=T0)
    svc.act("T-000003", "resolve", actor="x", now=T0)
    assert svc.open_counts() == {"d1": {"critical": 1, "minor": 1}, "d2": {"warning": 1}}
    assert [t.id for t in svc.list(device="d1")] == ["T-000003", "T-000002", "T-000001"]
    assert [t.id for t in svc.list(status="acknowledged")] == ["T-000004"]
    assert [t.id for t in svc.list(zone="b2")] == ["T-000004"]
    assert [t.id for t in svc.list(severity="minor", status="open")] == ["T-000002"]
    assert len(svc.list(limit=2)) == 2 and svc.list(overdue=True) == []


def test_unknown_event_state_is_ignored_and_counted(store: TicketStore) -> None:
    svc = make(store)
    assert svc.handle([ev(state="pending")]) == [] and svc.stats.ignored == 1


# -- one fault, one ticket --------------------------------------------------------------------------

def fault_ev(rule: str, device: str, fault: str, *, state: str = "firing", at: datetime = T0,
             severity: str = "minor", auto_resolve: bool = False, **labels: str) -> AlertEvent:
    return ev(rule, device, state=state, at=at, severity=severity, auto_resolve=auto_resolve,
              labels={"fault": fault, **labels})


def guard_report(device: str, fault: str, guard: str = "G017", *, at: datetime = T0) -> AlertEvent:
    """What the patrol tracker raises for an event card tapped at a checkpoint at `device`."""
    return ev(f"patrol.observation.{fault}", device, at=at, value=None, category="patrol",
              labels={"fault": fault, "reported_by": guard, "checkpoint": f"cp-{device}"})


def test_two_rules_that_describe_one_fault_of_one_device_share_a_ticket(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([fault_ev("fire.extinguisher_leak", "ext-1", "extinguisher_pressure_loss")])
    [t] = svc.handle([fault_ev("fire.extinguisher_low", "ext-1", "extinguisher_pressure_loss",
                               at=T0 + H, severity="major")])
    assert (t.id, t.occurrences, t.severity) == ("T-000001", 2, "major")
    # Another device, or another fault of the same device, is another ticket.
    svc.handle([fault_ev("fire.extinguisher_low", "ext-2", "extinguisher_pressure_loss"),
                fault_ev("fire.extinguisher_high", "ext-1", "extinguisher_over_pressure")])
    assert sorted((t.device_id, t.rule) for t in svc.list()) == [
        ("ext-1", "fire.extinguisher_high"), ("ext-1", "fire.extinguisher_leak"), ("ext-2", "fire.extinguisher_low")]


def test_the_condition_clears_only_once_every_rule_of_the_fault_has_cleared(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([fault_ev("fire.extinguisher_leak", "ext-1", "pressure_loss"),
                fault_ev("fire.extinguisher_low", "ext-1", "pressure_loss", at=T0 + MIN)])
    # The pressure stopped falling (the leak rule clears) but is still in the red zone.
    assert svc.handle([fault_ev("fire.extinguisher_leak", "ext-1", "pressure_loss", state="cleared",
                                at=T0 + H)]) == []
    assert not svc.list()[0].condition_cleared
    [t] = svc.handle([fault_ev("fire.extinguisher_low", "ext-1", "pressure_loss", state="cleared",
                               at=T0 + 2 * H)])
    assert t.condition_cleared and [h.action for h in t.history] == ["opened", "condition_cleared"]


def test_a_guard_report_of_an_open_fault_is_an_occurrence_with_the_guard_in_the_history(
        store: TicketStore, pub: FakePublisher) -> None:
    svc = make(store, pub)
    svc.handle([fault_ev("lighting.lamp_out", "lamp-1", "lamp_out", auto_resolve=True, owner="工程部")])
    [t] = svc.handle([guard_report("lamp-1", "lamp_out", at=T0 + 5 * MIN)])
    assert (t.id, t.occurrences, t.assignee) == ("T-000001", 2, "工程部")
    last = t.history[-1]
    assert (last.actor, last.action, last.at) == ("G017", "reported", T0 + 5 * MIN)
    assert pub.actions()[-1] == "reported"
    # The lamp's own rule still resolves it when the lamp is lit again.
    [t] = svc.handle([fault_ev("lighting.lamp_out", "lamp-1", "lamp_out", state="cleared", at=T0 + H,
                               auto_resolve=True)])
    assert t.status == "resolved"


def test_a_guard_report_first_and_then_the_sensor_rule_share_a_ticket(store: TicketStore) -> None:
    svc = make(store)
    [t] = svc.handle([guard_report("lamp-1", "lamp_out")])
    assert (t.history[0].actor, t.history[0].action) == ("G017", "opened")
    [t] = svc.handle([fault_ev("lighting.lamp_out", "lamp-1", "lamp_out", at=T0 + 10 * MIN, auto_resolve=True)])
    assert (t.id, t.occurrences) == ("T-000001", 2)
    # The guard's report has no condition of its own: the lamp's clear resolves the ticket.
    [t] = svc.handle([fault_ev("lighting.lamp_out", "lamp-1", "lamp_out", state="cleared", at=T0 + H,
                               auto_resolve=True)])
    assert t.status == "resolved" and len(svc.list()) == 1


def test_a_ticket_opened_before_the_rule_had_a_fault_label_still_takes_its_repeats_and_clear(
        store: TicketStore) -> None:
    svc = make(store)
    svc.handle([ev("lighting.lamp_out", "lamp-1", auto_resolve=True)])  # stored as lighting.lamp_out:lamp-1
    [t] = svc.handle([fault_ev("lighting.lamp_out", "lamp-1", "lamp_out", at=T0 + MIN, auto_resolve=True)])
    assert (t.id, t.occurrences) == ("T-000001", 2)
    [t] = svc.handle([fault_ev("lighting.lamp_out", "lamp-1", "lamp_out", state="cleared", at=T0 + H,
                               auto_resolve=True)])
    assert (t.id, t.status) == ("T-000001", "resolved")


# -- a guard's report names a place, a sensor names a device: the same fault in the same zone --------

def place_report(checkpoint: str, zone: str, fault: str, guard: str = "G017", *, at: datetime = T0) -> AlertEvent:
    """An event card tapped at a checkpoint that is no device: the report is about its zone."""
    return ev(f"patrol.observation.{fault}", checkpoint, zone=zone, at=at, value=None, category="patrol",
              labels={"fault": fault, "reported_by": guard, "checkpoint": checkpoint})


def test_a_guard_report_at_a_checkpoint_joins_the_open_ticket_of_the_same_fault_in_its_zone(
        store: TicketStore) -> None:
    svc = make(store)
    svc.handle([ev("lighting.lamp_out", "lamp-perim-02", zone="perimeter", auto_resolve=True,
                   labels={"fault": "lamp_out"})])
    [t] = svc.handle([place_report("cp-perim-ne", "perimeter", "lamp_out", at=T0 + H)])
    assert (t.id, t.occurrences, t.history[-1].actor) == ("T-000001", 2, "G017")
    # A second guard on another route, at another checkpoint of the zone: the same ticket again.
    [t] = svc.handle([place_report("cp-perim-s", "perimeter", "lamp_out", guard="G018", at=T0 + 2 * H)])
    assert (t.id, t.occurrences) == ("T-000001", 3) and len(svc.list()) == 1


def test_a_report_in_another_zone_or_of_another_fault_is_its_own_ticket(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([ev("lighting.lamp_out", "lamp-perim-02", zone="perimeter", labels={"fault": "lamp_out"})])
    svc.handle([place_report("cp-plaza", "plaza", "lamp_out", at=T0 + H),
                place_report("cp-perim-ne", "perimeter", "leak", at=T0 + H)])
    assert len(svc.list()) == 3


def test_the_sensor_rule_after_a_guard_report_in_its_zone_takes_over_the_report_ticket(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([place_report("cp-perim-ne", "perimeter", "lamp_out")])
    [t] = svc.handle([ev("lighting.lamp_out", "lamp-perim-02", zone="perimeter", at=T0 + 10 * MIN,
                         auto_resolve=True, labels={"fault": "lamp_out"})])
    assert (t.id, t.device_id, t.occurrences) == ("T-000001", "lamp-perim-02", 2)
    # From now on it is the lamp's ticket: its repeats and its clear land on it.
    [t] = svc.handle([ev("lighting.lamp_out", "lamp-perim-02", zone="perimeter", at=T0 + H, auto_resolve=True,
                         labels={"fault": "lamp_out"}, state="cleared")])
    assert (t.id, t.status) == ("T-000001", "resolved") and len(svc.list()) == 1


# -- one fault seen by rules of different faults: a dead battery, then no contact ---------------------

def battery(state: str = "firing", *, at: datetime, device: str = "smk-1") -> AlertEvent:
    """fire.battery_low as the built-in pack labels it: its fault explains a loss of contact."""
    return fault_ev("fire.battery_low", device, "battery_low", state=state, at=at, auto_resolve=True,
                    explains="no_contact")


def no_contact(rule: str, state: str = "firing", *, at: datetime, device: str = "smk-1") -> AlertEvent:
    return fault_ev(rule, device, "no_contact", state=state, at=at, auto_resolve=True)


def test_a_detector_whose_battery_dies_is_one_ticket_until_the_battery_is_new_and_it_is_back(
        store: TicketStore, pub: FakePublisher) -> None:
    svc = make(store, pub)
    [opened] = svc.handle([battery(at=T0)])
    # It goes silent, then the coordinator calls it offline: the same fault, on the battery's ticket.
    [t] = svc.handle([no_contact("health.silent", at=T0 + 2 * H)])
    assert (t.id, t.occurrences, t.rule, t.title) == (opened.id, 2, "fire.battery_low", opened.title)
    assert (t.history[-1].action, t.history[-1].note) == (
        "joined", "health.silent on smk-1: health.silent on smk-1 (no_contact, explained by battery_low)")
    assert pub.actions()[-1] == "joined"
    [t] = svc.handle([no_contact("health.offline", at=T0 + 3 * H)])
    assert (t.id, t.occurrences) == (opened.id, 3)
    # A new battery: its report clears the battery rule, but the detector is not back yet.
    assert svc.handle([battery("cleared", at=T0 + 12 * H)]) == []
    assert svc.handle([no_contact("health.silent", "cleared", at=T0 + 12 * H + MIN)]) == []
    [t] = svc.handle([no_contact("health.offline", "cleared", at=T0 + 12 * H + 2 * MIN)])
    assert (t.id, t.status, t.resolved_at) == (opened.id, "resolved", T0 + 12 * H + 2 * MIN)
    assert [h.action for h in t.history] == ["opened", "joined", "joined", "condition_cleared", "resolved"]
    assert len(svc.list()) == 1


def test_a_detector_offline_first_and_then_low_on_battery_is_one_ticket_too(store: TicketStore) -> None:
    svc = make(store)
    [opened] = svc.handle([no_contact("health.offline", at=T0)])
    [t] = svc.handle([battery(at=T0 + H)])
    assert (t.id, t.occurrences, t.history[-1].action) == (opened.id, 2, "joined")
    assert "fire.battery_low on smk-1" in t.history[-1].note
    # Back online with the old battery: still the battery's fault, still open.
    assert svc.handle([no_contact("health.offline", "cleared", at=T0 + 2 * H)]) == []
    [t] = svc.handle([battery("cleared", at=T0 + 3 * H)])
    assert (t.id, t.status) == (opened.id, "resolved") and len(svc.list()) == 1


def test_no_contact_is_its_own_ticket_without_a_battery_fault_at_that_device(store: TicketStore) -> None:
    svc = make(store)
    svc.handle([battery(at=T0, device="smk-2")])
    [t] = svc.handle([no_contact("health.offline", at=T0 + H)])
    assert (t.id, t.rule, t.device_id) == ("T-000002", "health.offline", "smk-1")
    # Once the battery ticket is resolved by hand, the next loss of contact is a fault of its own.
    svc.act("T-000001", "resolve", actor="li", note="new battery", now=T0 + 2 * H)
    [t] = svc.handle([no_contact("health.silent", at=T0 + 3 * H, device="smk-2")])
    assert (t.id, t.rule) == ("T-000003", "health.silent")


# -- inhibition does not depend on which was seen first -------------------------------------------

OUTAGE_FIRST_OR_NOT = [{"source_fault": "circuit_outage", "target_faults": ["lamp_out", "no_contact"],
                        "equal": ["circuit"]}]


def lamp_offline(device: str, circuit: str, *, at: datetime = T0, state: str = "firing") -> AlertEvent:
    return fault_ev("health.offline", device, "no_contact", state=state, at=at, auto_resolve=True, circuit=circuit)


def outage(circuit: str, *, at: datetime, state: str = "firing") -> AlertEvent:
    return fault_ev("lighting.circuit_outage", "meter-al5", "circuit_outage", state=state, at=at,
                    severity="major", auto_resolve=True, circuit=circuit, channel=circuit[-1])


def test_a_root_cause_seen_after_its_symptoms_folds_their_open_tickets_into_it(
        store: TicketStore, pub: FakePublisher) -> None:
    svc = make(store, pub, inhibit=OUTAGE_FIRST_OR_NOT)
    # The lamps of way 2 drop off the network at once; their offline alerts come first (5 min), with
    # one lamp on way 1 that is offline for a reason of its own.
    svc.handle([lamp_offline("lamp-s1", "AL5-WL2"), lamp_offline("lamp-s2", "AL5-WL2"),
                lamp_offline("lamp-n1", "AL5-WL1")])
    acked = svc.act("T-000002", "ack", actor="li", note="on my way", now=T0 + MIN)
    changed = svc.handle([outage("AL5-WL2", at=T0 + 2 * MIN)])
    root = next(t for t in changed if t.rule == "lighting.circuit_outage")
    assert root.id == "T-000004" and root.status == "open"
    # The open symptom it explains is closed into it, naming it; one that a person took is left to them.
    s1 = svc.get("T-000001")
    assert s1 is not None and s1.status == "cancelled"
    last = s1.history[-1]
    assert (last.actor, last.action, last.at) == ("system", "cancelled", T0 + 2 * MIN)
    assert last.note == f"caused by {root.id}: lighting.circuit_outage on meter-al5; folded into it"
    assert [(t.id, t.status) for t in svc.list() if t.id != root.id] == [
        ("T-000003", "open"), ("T-000002", "acknowledged"), ("T-000001", "cancelled")]
    assert acked.status == "acknowledged"
    assert root.suppressed == 1 and [(h.action, h.note) for h in root.history[1:]] == [
        ("folded", "folded T-000001 (health.offline on lamp-s1: health.offline on lamp-s1), opened before it")]
    assert ("T-000001", "cancelled") in [(doc["id"], doc["history"][-1]["action"]) for _, doc in pub.sent]
    rows = svc.suppressed()
    assert [(r["device_id"], r["reason"], r["source"]) for r in rows] == [("lamp-s1", "inhibited", root.id)]
    # Later alerts of the same lamps are muted as before; the lamp's clear touches nothing.
    [again] = svc.handle([fault_ev("health.silent", "lamp-s1", "no_contact", at=T0 + 20 * MIN, circuit="AL5-WL2")])
    assert again.id == root.id and again.suppressed == 2
    assert svc.handle([lamp_offline("lamp-s1", "AL5-WL2", at=T0 + H, state="cleared")]) == []
    # The outage clears and resolves by itself; nothing folded comes back.
    [root] = svc.handle([outage("AL5-WL2", at=T0 + H, state="cleared")])
    assert root.status == "resolved"
    assert sorted((t.id, t.status) for t in svc.list()) == [
        ("T-000001", "cancelled"), ("T-000002", "acknowledged"), ("T-000003", "open"), ("T-000004", "resolved")]


def test_inhibition_by_fault_mutes_every_rule_of_the_fault_and_nothing_else(store: TicketStore) -> None:
    svc = make(store, inhibit=OUTAGE_FIRST_OR_NOT)
    [root] = svc.handle([outage("AL5-WL2", at=T0)])
    muted = svc.handle([fault_ev("health.silent", "lamp-s1", "no_contact", circuit="AL5-WL2"),
                        fault_ev("lighting.lamp_out", "lamp-s2", "lamp_out", circuit="AL5-WL2")])
    assert [t.id for t in muted] == [root.id] and muted[0].suppressed == 2
    # A lamp burning in daylight on that way is no symptom of a dead circuit.
    [stuck] = svc.handle([fault_ev("lighting.lamp_in_daylight", "lamp-s2", "lamp_stuck_on", circuit="AL5-WL2")])
    assert stuck.rule == "lighting.lamp_in_daylight"


def test_an_outage_folds_only_the_symptoms_it_can_have_caused_not_an_older_fault_on_its_circuit(
        store: TicketStore) -> None:
    """A lamp on way 2 died at dusk (its own ticket, hours old); at 01:10 way 2 loses power. The
    outage explains the lamps' offline tickets of the last minutes, not the dead lamp of the evening
    (found by the oracle: the dead lamp's ticket was cancelled as 'caused by' the outage)."""
    svc = make(store, inhibit=OUTAGE_FIRST_OR_NOT)
    svc.handle([fault_ev("lighting.lamp_out", "lamp-s2", "lamp_out", auto_resolve=True, circuit="AL5-WL2")])
    svc.handle([lamp_offline("lamp-s1", "AL5-WL2", at=T0 + 8 * H)])
    svc.handle([outage("AL5-WL2", at=T0 + 8 * H + 2 * MIN)])
    assert {t.id: t.status for t in svc.list()} == {
        "T-000001": "open", "T-000002": "cancelled", "T-000003": "open"}
