"""How a ticket changes, pure: opening from an alert, repeats, a cleared condition, a person's action,
a deadline passing. Each function takes a ticket and values (time is always passed in) and returns a
new ticket with the change appended to its history; the caller stores and publishes it.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from gateway.core.errors import SitegateError
from gateway.core.model import AlertEvent
from gateway.tickets import lifecycle, sla, stages
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.ticket import HistoryEntry, Ticket

SYSTEM = stages.SYSTEM
SEVERITY_RANK = {"warning": 0, "minor": 1, "major": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class Change:
    """A ticket after one change, and what the change was (a history action, or "occurrence")."""

    ticket: Ticket
    action: str


def aware(when: datetime, tz: tzinfo) -> datetime:
    """Event times without an offset are taken as site time, then everything is shown in site time."""
    return when.replace(tzinfo=tz) if when.tzinfo is None else when.astimezone(tz)


def _edit(t: Ticket) -> Ticket:
    new = copy.copy(t)
    new.history = list(t.history)
    new.labels = dict(t.labels)
    return new


def _log(t: Ticket, at: datetime, action: str, note: str = "", *, actor: str = SYSTEM,
         from_status: str | None = None) -> None:
    t.history.append(HistoryEntry(at=at, actor=actor, action=action, note=note,
                                  from_status=from_status or t.status, to_status=t.status))


def _set_phase(t: Ticket, now: datetime, policy: TicketPolicy) -> None:
    """Point due_at at the earliest deadline of a stage still to be done, check_at at the earliest not
    yet recorded as passed, and the escalation clock at due_at."""
    pend = [(d, stage) for stage in stages.STAGES if stages.pending(t, stage) and (d := stages.due(t, stage))]
    t.due_at = min(d for d, _ in pend) if pend else None
    unnoted = [d for d, stage in pend if stage not in t.late_stages]
    t.check_at = min(unnoted) if unnoted else None
    t.overdue = any(stage in t.late_stages or now >= d for d, stage in pend)
    start = t.sla_started_at or t.opened_at
    if t.status in lifecycle.ACTIVE:
        t.next_escalation_at = sla.next_escalation(start, t.due_at, t.escalation_level, policy.escalation)
    else:
        t.next_escalation_at = None


def _times(t: Ticket, policy: TicketPolicy) -> sla.Sla:
    return sla.sla_for(policy.sla, rule=t.rule, zone=t.zone, severity=t.severity, source=t.source,
                       category=t.category, emergency=t.emergency)


def _set_deadlines(t: Ticket, start: datetime, policy: TicketPolicy) -> None:
    """Every stage's deadline from `start` (registration, or a reopen); a resolve window that the
    facility table counts from acceptance starts at the acceptance when there is one."""
    times = _times(t, policy)
    t.sla_started_at = start
    t.respond_due_at = sla.deadline(start, times.respond)
    t.arrive_due_at = sla.deadline(start, times.arrive)
    accepted = t.acknowledged_at if times.resolve_from_accept and t.acknowledged_at else None
    t.resolve_due_at = sla.deadline(accepted or start, times.resolve)
    _no_later_than_resolve(t)


def _no_later_than_resolve(t: Ticket) -> None:
    """Nobody can be asked to answer or arrive after the work is due (a job due tonight answered by
    tomorrow): the earlier stages' deadlines are capped at the resolve deadline."""
    if t.resolve_due_at is None:
        return
    if t.respond_due_at is not None:
        t.respond_due_at = min(t.respond_due_at, t.resolve_due_at)
    if t.arrive_due_at is not None:
        t.arrive_due_at = min(t.arrive_due_at, t.resolve_due_at)


def _accepted(t: Ticket, now: datetime, policy: TicketPolicy) -> None:
    """The first acceptance (接单): the facility table's completion clock starts now."""
    if t.acknowledged_at is not None:
        return
    t.acknowledged_at = now
    times = _times(t, policy)
    if times.resolve_from_accept:
        t.resolve_due_at = sla.deadline(now, times.resolve)


def _note_late(t: Ticket, now: datetime, tz: tzinfo) -> list[str]:
    """Record every stage that is late as of `now` and not yet on record; answers them."""
    found: list[str] = []
    for stage in stages.STAGES:
        if stage not in t.late_stages and stages.late_now(t, stage, now):
            t.late_stages.append(stage)
            due = stages.due(t, stage)
            done = stages.done_at(t, stage)
            when = f"done {done.astimezone(tz):%Y-%m-%d %H:%M}" if done else "not done"
            _log(t, now, "revisit_overdue" if stage == "revisit" else "overdue",
                 f"{stage} deadline {due.astimezone(tz):%Y-%m-%d %H:%M} passed ({when})" if due else stage)
            found.append(stage)
    return found


def reporter(ev: AlertEvent) -> str | None:
    """Who reported the fault when a person did (a guard's event card), else None (a rule's condition)."""
    return ev.labels.get("reported_by") or None


def signal(ev: AlertEvent) -> str | None:
    """The condition behind the event, which fires and clears; None for a person's report (no condition)."""
    return None if reporter(ev) else f"{ev.rule}:{ev.subject}"


def explains(cause: dict[str, str], effect: dict[str, str]) -> bool:
    """Whether the fault labelled `cause` explains the one labelled `effect` at the same device: its
    `explains` label names that fault (a dead battery explains a detector that went silent)."""
    fault = effect.get("fault")
    return bool(fault) and fault in {name.strip() for name in cause.get("explains", "").split(",")}


def joined_note(t: Ticket, ev: AlertEvent) -> str:
    """What the history says when an alert of another fault joins the ticket whose fault is the same."""
    theirs, mine = ev.labels.get("fault", ev.rule), t.labels.get("fault", t.rule)
    why = f"explained by {mine}" if explains(t.labels, ev.labels) else f"which explains {mine}"
    return f"{ev.rule} on {ev.device}: {ev.title} ({theirs}, {why})"


def open_ticket(ev: AlertEvent, *, site: str, policy: TicketPolicy, tz: tzinfo) -> Ticket:
    """A new ticket for a firing event; seq and id come from the store."""
    at = aware(ev.ts, tz)
    t = Ticket(
        site=site, rule=ev.rule, device_id=ev.device, zone=ev.zone, severity=ev.severity, status="open",
        title=ev.title, opened_at=at, dedup_key=ev.key, description=ev.description, category=ev.category,
        kind=ev.kind, labels=dict(ev.labels), assignee=policy.owners.owner(ev.zone, ev.labels),
        occurrences=1, last_value=ev.value, last_seen_at=at, auto_resolve=ev.auto_resolve,
        source=ev.labels.get("source") or ("patrol" if reporter(ev) else "sensor"),
        channel="patrol" if reporter(ev) else "sensor", emergency=ev.severity == "critical",
        place=ev.labels.get("place", ""),
    )
    t.team = t.assignee
    _set_deadlines(t, at, policy)
    t.history.append(HistoryEntry(at=at, actor=reporter(ev) or SYSTEM, action="opened",
                                  note=ev.description or ev.title, from_status=None, to_status="open"))
    _set_phase(t, at, policy)
    return t


@dataclass(frozen=True, slots=True)
class Request:
    """A request registered by a person (POST /api/tickets) or a schedule (planned work)."""

    source: str  # complaint | repair | planned (| patrol: a guard registering it by hand)
    channel: str  # phone | desk | online | patrol | schedule
    title: str
    description: str = ""
    category: str = "general"
    place: str = ""
    emergency: bool = False
    reporter_name: str = ""
    reporter_contact: str = ""
    zone: str = ""
    device_id: str = ""
    checkpoint: str = ""
    photos: tuple[str, ...] = ()
    severity: str | None = None
    reported_at: datetime | None = None  # when the person called, if earlier than the registration
    checklist: tuple[dict[str, Any], ...] = ()
    key: str | None = None  # a dedup key (a schedule's occurrence); None: every request is its own
    resolve_due: datetime | None = None  # planned work: due by this time (end of its due day), not the SLA's


# The fault an emergency call reports, by the facility it is about: the emergency response classes
# (gateway/tickets/emergency.py) count it with the sensors' alarms of the same fault in the zone.
EMERGENCY_FAULT = {"water": "leak", "plumbing": "leak", "fire": "fire", "lift": "trapped"}


def request_severity(request: Request) -> str:
    """Emergencies are critical; a complaint minor (answered in 24 h); a repair major (answered in 2 h)."""
    if request.severity is not None:
        return request.severity
    if request.emergency:
        return "critical"
    return {"complaint": "minor", "planned": "minor"}.get(request.source, "major")


def open_request(request: Request, *, site: str, actor: str, now: datetime, policy: TicketPolicy,
                 tz: tzinfo) -> Ticket:
    at = aware(request.reported_at or now, tz)
    labels = {"channel": request.channel}
    if request.checkpoint:
        labels["checkpoint"] = request.checkpoint
    if request.emergency and request.category in EMERGENCY_FAULT:
        labels["fault"] = EMERGENCY_FAULT[request.category]
    severity = request_severity(request)
    team = policy.owners.owner(request.zone, labels)
    t = Ticket(
        site=site, rule=f"request.{request.source}", device_id=request.device_id or request.checkpoint,
        zone=request.zone, severity=severity, status="open", title=request.title, opened_at=at,
        dedup_key=request.key or f"request:{uuid.uuid4().hex}", description=request.description,
        category=request.category, kind="request", labels=labels, assignee=team, occurrences=1,
        last_seen_at=at, source=request.source, channel=request.channel, place=request.place,
        reporter_name=request.reporter_name, reporter_contact=request.reporter_contact,
        photos=list(request.photos), emergency=request.emergency or severity == "critical", team=team,
        checklist=[dict(item) for item in request.checklist],
    )
    _set_deadlines(t, at, policy)
    if request.resolve_due is not None:
        t.resolve_due_at = aware(request.resolve_due, tz)
        _no_later_than_resolve(t)
    who = f" from {request.reporter_name}" if request.reporter_name else ""
    note = f"{request.source} via {request.channel}{who}: {request.description or request.title}"
    t.history.append(HistoryEntry(at=at, actor=actor, action="opened", note=note, from_status=None,
                                  to_status="open"))
    _note_late(t, aware(now, tz), tz)  # registered late (a call logged after its deadline passed)
    _set_phase(t, aware(now, tz), policy)
    return t


def record_firing(t: Ticket, ev: AlertEvent, *, policy: TicketPolicy, tz: tzinfo, joined: str = "") -> Change:
    """The fault fired again (the same rule, another rule of the same fault, or a person reporting it):
    count it, keep the latest value and its own rule's wording; note a report, a new title, a return
    or a worse severity. `joined` is the history note for an alert of another fault that is this
    ticket's fault (see explains)."""
    at = aware(ev.ts, tz)
    new = _edit(t)
    new.occurrences += 1
    new.last_seen_at = max(at, t.last_seen_at) if t.last_seen_at else at
    action = "occurrence"
    if joined:
        _log(new, at, "joined", joined)
        action = "joined"
    who = reporter(ev)
    if who is not None:
        # A person saw it: their report is part of the audit trail. It has no value and no condition,
        # so the rules' values, wording and clearing stay as they were.
        _log(new, at, "reported", ev.description or ev.title, actor=who)
        action = "reported"
    else:
        new.last_value = ev.value
        new.auto_resolve = ev.auto_resolve
        if ev.rule == t.rule:
            # The ticket's own rule restates the fault (a patrol round lists what it missed so far).
            # Another rule of the same fault keeps the ticket's wording and owner label.
            new.title, new.description, new.labels = ev.title, ev.description, dict(ev.labels)
            if ev.title != t.title:
                _log(new, at, "updated", ev.title)
                action = "updated"
        if t.condition_cleared:
            new.condition_cleared = False
            new.cleared_at = None
            _log(new, at, "condition_returned", f"the condition is back (value {ev.value})")
            action = "condition_returned"
    if SEVERITY_RANK.get(ev.severity, 0) > SEVERITY_RANK.get(t.severity, 0):
        # A lower pressure than before, say: the faster deadlines of the new severity apply.
        new.severity = ev.severity
        new.emergency = new.emergency or ev.severity == "critical"
        _raise_deadlines(new, at, policy)
        _set_phase(new, at, policy)
        _log(new, at, "severity_raised", f"{t.severity} -> {ev.severity}")
        action = "severity_raised"
    return Change(new, action)


def _raise_deadlines(t: Ticket, at: datetime, policy: TicketPolicy) -> None:
    """The new severity's windows count from the raise, never later than what was already due: a
    minor leak that turns major two hours in is due within 2 h of becoming major, not overdue the
    moment it did (its 2 h counted from the opening) and not later than its old deadline either.
    Stages already done keep their deadlines, so their verdict stays what it was."""
    early: tuple[stages.Stage, ...] = ("respond", "arrive", "resolve")
    before = {stage: stages.due(t, stage) for stage in early}
    _set_deadlines(t, at, policy)
    for stage, old in before.items():
        new = stages.due(t, stage)
        if stages.done_at(t, stage) is not None or (old is not None and (new is None or old < new)):
            new = old
        setattr(t, f"{stage}_due_at", new)


def record_cleared(t: Ticket, ev: AlertEvent, *, policy: TicketPolicy, tz: tzinfo) -> Change | None:
    """The condition cleared: flag it, and resolve the ticket when the rule says the fault fixes itself."""
    at = aware(ev.ts, tz)
    resolve = ev.auto_resolve and t.status in ("open", "acknowledged")
    if t.condition_cleared and not resolve:
        return None
    new = _edit(t)
    if ev.value is not None:
        new.last_value = ev.value
    action = "condition_cleared"
    if not t.condition_cleared:
        new.condition_cleared = True
        new.cleared_at = at
        _log(new, at, "condition_cleared", f"the condition cleared (value {ev.value})")
    if resolve:
        new = apply_action(new, "resolve", actor=SYSTEM, note="condition cleared; resolved automatically",
                           now=at, policy=policy, tz=tz)
        action = "resolved"
    return Change(new, action)


class StageRefused(SitegateError):
    """The status allows the action but the service loop does not (yet): the API answers 409."""


class SameActor(SitegateError):
    """Separation of duties: the person who repaired a ticket cannot sign off its revisit (403)."""


@dataclass(frozen=True, slots=True)
class Details:
    """What a person gives with an action besides the note."""

    assignee: str | None = None  # accept: dispatch to this person (default: whoever accepts)
    work_done: str = ""  # resolve
    parts: tuple[str, ...] = ()  # resolve
    result: str | None = None  # revisit: ok | failed
    satisfaction: int | None = None  # revisit: 1..5
    checkpoint: str | None = None  # arrive: the checkpoint tapped on site, as proof


def needs_revisit(t: Ticket, policy: TicketPolicy) -> bool:
    """A person repaired it and its source is one the site revisits."""
    return t.resolved_by not in (None, SYSTEM) and t.source in policy.revisit.sources


def apply_action(t: Ticket, action: str, *, actor: str, note: str, now: datetime, policy: TicketPolicy,
                 tz: tzinfo, details: Details | None = None, anonymous: str = "anonymous") -> Ticket:
    """A person (or the system) acts on the ticket. Raises IllegalTransition when the status forbids
    it, StageRefused or SameActor when the service loop does."""
    d = details or Details()
    to = lifecycle.next_status(t.id, t.status, action)
    now = aware(now, tz)
    new = _edit(t)
    before = t.status
    new.status = to
    log_action, log_note = lifecycle.ACTION_EVENT[action], note
    if action in ("ack", "accept"):
        _accepted(new, now, policy)
        new.escalation_level = 0  # the next stage escalates on its own clock
        if action == "accept":
            new.assignee = d.assignee or actor
            log_note = f"assigned to {new.assignee}" + (f"; {note}" if note else "")
    elif action == "arrive":
        if t.arrived_at is not None:
            raise StageRefused(f"Ticket {t.id}: someone has been on site since "
                               f"{t.arrived_at.astimezone(tz):%Y-%m-%d %H:%M}; resolve it when done.")
        _accepted(new, now, policy)
        new.arrived_at = now
        new.escalation_level = 0
        if d.checkpoint:
            log_note = f"on site at checkpoint {d.checkpoint}" + (f"; {note}" if note else "")
    elif action == "resolve":
        new.resolved_at, new.resolved_by = now, actor
        new.work_done, new.parts = d.work_done, list(d.parts)
        new.escalation_level = 0
        new.revisit_due_at = None
        if needs_revisit(new, policy):
            new.revisit_due_at = sla.revisit_due(now, working_days=policy.revisit.working_days,
                                                 calendar=policy.calendar, tz=tz)
        if d.work_done or d.parts:
            done = d.work_done + (f" (parts: {', '.join(d.parts)})" if d.parts else "")
            log_note = f"{note}; {done}" if note else done
    elif action == "close":
        if needs_revisit(t, policy) and t.revisit_result != "ok":
            raise StageRefused(
                f"Ticket {t.id} was repaired by {t.resolved_by}: it closes with a successful revisit by "
                f"customer service (POST /api/tickets/{t.id}/revisit), not directly.")
        new.closed_at = now
    elif action == "revisit":
        if d.result not in ("ok", "failed"):
            raise StageRefused("A revisit needs result 'ok' (the repair holds) or 'failed' (it does not).")
        if actor == t.resolved_by and actor != anonymous:
            raise SameActor(f"{actor} repaired ticket {t.id}, so someone else (customer service) must do "
                            "the revisit. 维修人员不能自己回访。")
        new.revisited_at, new.revisited_by = now, actor
        new.revisit_result, new.satisfaction = d.result, d.satisfaction
        score = f", satisfaction {d.satisfaction}/5" if d.satisfaction is not None else ""
        if d.result == "ok":
            new.closed_at = now
            log_note = f"revisit ok{score}" + (f"; {note}" if note else "")
        else:
            new.status = "open"
            _restart(new, now, policy)
            log_action = "revisit_failed"
            log_note = (f"revisit failed{score}: the ticket is open again; notify {policy.revisit.notify}"
                        + (f"; {note}" if note else ""))
    elif action == "reopen":
        _restart(new, now, policy)
    elif action == "feedback":
        if not note.strip():
            raise StageRefused("Feedback needs a note: what the reporter was told.")
        new.feedback_at = now
    elif action == "cancel":
        new.cancelled_at = now
    _note_late(new, now, tz)
    _set_phase(new, now, policy)
    _log(new, now, log_action, log_note, actor=actor, from_status=before)
    return new


def _restart(t: Ticket, now: datetime, policy: TicketPolicy) -> None:
    """The fix did not hold: the stages start again, as for a new fault, and it counts as rework.
    The revisit's own record (who, when, the result) stays for the report."""
    t.reopen_count += 1
    t.escalation_level = 0
    t.acknowledged_at = t.arrived_at = t.resolved_at = t.resolved_by = t.closed_at = t.revisit_due_at = None
    t.revisit_overdue = False
    t.late_stages = []
    if t.revisit_result != "failed":
        t.revisit_result = None
    _set_deadlines(t, now, policy)


def check_deadlines(t: Ticket, now: datetime, *, policy: TicketPolicy, tz: tzinfo) -> Change | None:
    """Record stages whose deadline passed, escalate by elapsed time; None when nothing is due."""
    now = aware(now, tz)
    new = _edit(t)
    late = _note_late(new, now, tz)
    if "revisit" in late:
        new.revisit_overdue = True
    start = t.sla_started_at or t.opened_at
    target = sla.level_at(start, t.due_at, now, policy.escalation) if t.status in lifecycle.ACTIVE else 0
    if target > t.escalation_level and t.due_at is not None:
        phase = next((s for s in stages.STAGES if stages.pending(t, s) and stages.due(t, s) == t.due_at), "resolve")
        due_text = f"{t.due_at.astimezone(tz):%Y-%m-%d %H:%M}"
        for level in range(t.escalation_level + 1, target + 1):
            who = policy.escalation.notify[level - 1] if level <= len(policy.escalation.notify) else ""
            note = f"level {level}: {phase} deadline {due_text} passed" + (f"; notify {who}" if who else "")
            new.escalation_level = level
            _log(new, now, "escalated", note)
    _set_phase(new, now, policy)
    if len(new.history) == len(t.history):
        # Nothing passed; a stale watch (a store from before the stages) is moved on quietly.
        return None if new.check_at == t.check_at else Change(new, "occurrence")
    return Change(new, new.history[-1].action)


def fold_into(target: Ticket, root: Ticket, *, at: datetime, policy: TicketPolicy, tz: tzinfo) -> Ticket:
    """A symptom's ticket, opened before the root cause that explains it was seen, closes into it."""
    return apply_action(target, "cancel", actor=SYSTEM, note=f"caused by {root.id}: {root.title}; folded into it",
                        now=at, policy=policy, tz=tz)


def note_folded(root: Ticket, target: Ticket, *, at: datetime, tz: tzinfo) -> Change:
    """The root cause took in a symptom's ticket opened before it: counted, and always in the history."""
    new = _edit(root)
    new.suppressed += 1
    _log(new, aware(at, tz), "folded",
         f"folded {target.id} ({target.rule} on {target.device_id}: {target.title}), opened before it")
    return Change(new, "folded")


def note_suppressed(source: Ticket, ev: AlertEvent, *, first: bool, tz: tzinfo) -> Change:
    """A symptom this ticket explains was muted; the first time for a device it goes in the history."""
    new = _edit(source)
    new.suppressed += 1
    if not first:
        return Change(new, "occurrence")
    _log(new, aware(ev.ts, tz), "suppressed", f"muted {ev.rule} on {ev.device}: {ev.title}")
    return Change(new, "suppressed")
