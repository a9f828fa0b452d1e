from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.core.model import AlertEvent
from gateway.tickets.changes import (
    Request,
    apply_action,
    check_deadlines,
    note_suppressed,
    open_request,
    open_ticket,
    record_cleared,
    record_firing,
)
from gateway.tickets.policy import TicketPolicy

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=TZ)
H = timedelta(hours=1)


def ev(state: str = "firing", at: datetime = T0, severity: str = "warning", title: str = "Lamp out",
       **kw: object) -> AlertEvent:
    return AlertEvent(rule="lighting.lamp_out", device="lamp-1", zone="north", state=state, severity=severity,
                      title=title, ts=at, **kw)  # type: ignore[arg-type]


def test_open_ticket_takes_everything_from_the_event() -> None:
    t = open_ticket(ev(kind="lamp", category="lighting", labels={"circuit": "C3"}, value=0.0,
                       description="lamp-1 draws 0.0 A after dusk", dedup_key="custom"),
                    site="hv", policy=TicketPolicy(), tz=TZ)
    assert (t.kind, t.category, t.labels) == ("lamp", "lighting", {"circuit": "C3"})
    assert (t.last_value, t.dedup_key) == (0.0, "custom")
    # A lighting fault: the facility table's 24 h, counted from registration until someone accepts it.
    assert t.respond_due_at == T0 + 24 * H and t.resolve_due_at == T0 + 24 * H and t.due_at == T0 + 24 * H
    assert t.next_escalation_at == T0 + 24 * H and not t.overdue
    assert t.history[0].note == "lamp-1 draws 0.0 A after dusk"


def test_event_time_without_offset_is_site_time() -> None:
    t = open_ticket(ev(at=datetime(2026, 11, 23, 21, 0)), site="hv", policy=TicketPolicy(), tz=TZ)
    assert t.opened_at == T0 and t.opened_at.tzinfo == TZ


def test_changes_leave_the_original_untouched() -> None:
    policy = TicketPolicy()
    t = open_ticket(ev(), site="hv", policy=policy, tz=TZ)
    record_firing(t, ev(at=T0 + H), policy=policy, tz=TZ)
    record_cleared(t, ev("cleared", at=T0 + H), policy=policy, tz=TZ)
    apply_action(t, "ack", actor="x", note="", now=T0, policy=policy, tz=TZ)
    assert (t.occurrences, t.condition_cleared, t.status, len(t.history)) == (1, False, "open", 1)


def test_a_repeat_restates_the_condition_and_a_new_title_is_logged_as_updated() -> None:
    # A round's missed-checkpoint alert: the same key, more checkpoints missed as the round goes on.
    policy = TicketPolicy()
    t = open_ticket(ev(title="Missed 1 of 4: gate", description="gate 20:00", labels={"missed": "gate"}),
                    site="hv", policy=policy, tz=TZ)
    same = record_firing(t, ev(at=T0 + H, title="Missed 1 of 4: gate", description="gate 20:00",
                               labels={"missed": "gate"}), policy=policy, tz=TZ)
    assert (same.action, len(same.ticket.history), same.ticket.occurrences) == ("occurrence", 1, 2)
    more = record_firing(same.ticket, ev(at=T0 + 2 * H, title="Missed 2 of 4: gate, roof",
                                         description="gate 20:00\nroof 20:12",
                                         labels={"missed": "gate,roof"}), policy=policy, tz=TZ)
    new = more.ticket
    assert more.action == "updated"
    assert (new.title, new.description, new.labels) == (
        "Missed 2 of 4: gate, roof", "gate 20:00\nroof 20:12", {"missed": "gate,roof"})
    entry = new.history[-1]
    assert (entry.at, entry.actor, entry.action, entry.note, entry.from_status, entry.to_status) == (
        T0 + 2 * H, "system", "updated", "Missed 2 of 4: gate, roof", "open", "open")
    assert (t.title, t.labels) == ("Missed 1 of 4: gate", {"missed": "gate"})  # the original is untouched


def test_overdue_without_a_new_level_when_the_first_multiple_is_later() -> None:
    policy = TicketPolicy.model_validate({"escalation": {"multiples": [1.5, 3]}})
    t = open_ticket(ev(severity="critical"), site="hv", policy=policy, tz=TZ)
    assert check_deadlines(t, T0 + 59 * timedelta(minutes=1), policy=policy, tz=TZ) is None
    change = check_deadlines(t, T0 + H, policy=policy, tz=TZ)
    assert change is not None and change.action == "overdue" and change.ticket.escalation_level == 0
    assert change.ticket.next_escalation_at == T0 + 1.5 * H
    later = check_deadlines(change.ticket, T0 + 1.5 * H, policy=policy, tz=TZ)
    assert later is not None and later.action == "escalated" and later.ticket.escalation_level == 1


def test_no_escalation_without_a_deadline() -> None:
    no_deadlines = {"warning": {"respond": None, "resolve": None}}
    policy = TicketPolicy.model_validate({"sla": {"severities": no_deadlines}})
    t = open_ticket(ev(), site="hv", policy=policy, tz=TZ)
    assert t.due_at is None and check_deadlines(t, T0 + 1000 * H, policy=policy, tz=TZ) is None



def test_suppressed_symptoms_are_logged_once_per_device() -> None:
    policy = TicketPolicy()
    t = open_ticket(ev(), site="hv", policy=policy, tz=TZ)
    first = note_suppressed(t, ev(), first=True, tz=TZ)
    again = note_suppressed(first.ticket, ev(), first=False, tz=TZ)
    assert (first.action, again.action, again.ticket.suppressed, len(again.ticket.history)) == \
        ("suppressed", "occurrence", 2, 2)


def test_planned_work_is_due_when_its_request_says_not_by_the_sla() -> None:
    due = datetime(2026, 3, 1, 23, 59, 59, tzinfo=TZ)
    opened = datetime(2026, 2, 26, 8, 0, tzinfo=TZ)
    request = Request(source="planned", channel="schedule", title="check", key="planned:x", resolve_due=due)
    t = open_request(request, site="s", actor="schedule", now=opened, policy=TicketPolicy(), tz=TZ)
    assert t.resolve_due_at == due and t.dedup_key == "planned:x"
    plain = open_request(Request(source="planned", channel="schedule", title="check"), site="s",
                         actor="schedule", now=opened, policy=TicketPolicy(), tz=TZ)
    assert plain.resolve_due_at != due  # without it, the SLA's resolve time applies as before


def test_no_stage_is_due_after_the_work_itself() -> None:
    # A planned inspection due by 23:59 tonight, registered at 20:00: its 24 h respond window would
    # end tomorrow evening, after the work is due; it is capped at the work's deadline.
    evening = datetime(2026, 12, 2, 20, 0, tzinfo=TZ)
    due = datetime(2026, 12, 2, 23, 59, 59, tzinfo=TZ)
    t = open_request(Request(source="planned", channel="schedule", title="fire door check", resolve_due=due),
                     site="hv", actor="schedule", now=evening, policy=TicketPolicy(), tz=TZ)
    assert (t.respond_due_at, t.resolve_due_at) == (due, due)


def test_a_raised_severity_counts_its_faster_deadlines_from_the_raise() -> None:
    # A minor leak at 21:00 (respond in 24 h) turns major at 23:00 (respond in 2 h): due at 01:00,
    # not at 23:00 (2 h from the opening, already past when it became major).
    policy = TicketPolicy()
    t = open_ticket(ev(severity="minor"), site="hv", policy=policy, tz=TZ)
    assert t.respond_due_at == T0 + 24 * H
    raised = record_firing(t, ev(severity="major", at=T0 + 2 * H), policy=policy, tz=TZ).ticket
    assert (raised.severity, raised.respond_due_at, raised.overdue) == ("major", T0 + 4 * H, False)
    # Never later than what was already due: a critical raise 23 h in keeps the old respond time.
    late = record_firing(t, ev(severity="critical", at=T0 + 23 * H + 30 * timedelta(minutes=1)),
                         policy=policy, tz=TZ).ticket
    assert late.respond_due_at == T0 + 24 * H
