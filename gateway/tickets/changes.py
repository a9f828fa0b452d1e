"""How a ticket changes, pure: opening from an alert, repeats, a cleared condition, a person's action,
a deadline passing. Each function takes a ticket and values (time is always passed in) and returns a
new ticket with the change appended to its history; the caller stores and publishes it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

from gateway.core.model import AlertEvent
from gateway.tickets import lifecycle, sla
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.ticket import HistoryEntry, Ticket

SYSTEM = "system"
SEVERITY_RANK = {"warning": 0, "minor": 1, "major": 2, "critical": 3}
_REVISIT = re.compile(r"\brevisit\s*[:=]\s*(ok|failed)\b", re.IGNORECASE)


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
    """Point due_at at the deadline the current status works towards, and the escalation clock with it."""
    if t.status == "open":
        t.due_at = t.respond_due_at or t.resolve_due_at
    elif t.status == "acknowledged":
        t.due_at = t.resolve_due_at
    elif t.status == "resolved":
        t.due_at = t.revisit_due_at
    else:
        t.due_at = None
    t.overdue = t.due_at is not None and now >= t.due_at
    start = t.sla_started_at or t.opened_at
    if t.status in lifecycle.ACTIVE:
        t.next_escalation_at = sla.next_escalation(start, t.due_at, t.escalation_level, policy.escalation)
    else:
        t.next_escalation_at = None


def _set_deadlines(t: Ticket, start: datetime, policy: TicketPolicy) -> None:
    times = sla.sla_for(policy.sla, rule=t.rule, zone=t.zone, severity=t.severity)
    t.sla_started_at = start
    t.respond_due_at = sla.deadline(start, times.respond)
    t.resolve_due_at = sla.deadline(start, times.resolve)


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
    )
    _set_deadlines(t, at, policy)
    t.history.append(HistoryEntry(at=at, actor=reporter(ev) or SYSTEM, action="opened",
                                  note=ev.description or ev.title, from_status=None, to_status="open"))
    _set_phase(t, at, policy)
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
        # A lower pressure than before, say: the faster deadline of the new severity applies.
        new.severity = ev.severity
        _set_deadlines(new, new.sla_started_at or new.opened_at, policy)
        _set_phase(new, at, policy)
        _log(new, at, "severity_raised", f"{t.severity} -> {ev.severity}")
        action = "severity_raised"
    return Change(new, action)


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


def revisit_result(note: str) -> str | None:
    match = _REVISIT.search(note)
    return match.group(1).lower() if match else None


def apply_action(t: Ticket, action: str, *, actor: str, note: str, now: datetime, policy: TicketPolicy,
                 tz: tzinfo) -> Ticket:
    """A person (or the system) acts on the ticket; IllegalTransition when the status forbids it."""
    to = lifecycle.next_status(t.id, t.status, action)
    now = aware(now, tz)
    new = _edit(t)
    before = t.status
    new.status = to
    if action == "ack":
        new.acknowledged_at = now
        new.escalation_level = 0  # the resolve deadline escalates on its own clock
    elif action == "resolve":
        new.resolved_at = now
        new.escalation_level = 0
        new.revisit_due_at = sla.revisit_due(now, working_days=policy.revisit.working_days,
                                             calendar=policy.calendar, tz=tz)
    elif action == "close":
        new.closed_at = now
        new.revisit_result = revisit_result(note)
    elif action == "reopen":
        # The fix did not hold: the SLA clock starts again, as for a new fault.
        _set_deadlines(new, now, policy)
        new.escalation_level = 0
        new.acknowledged_at = new.resolved_at = new.closed_at = new.revisit_due_at = None
        new.revisit_overdue = False
        new.revisit_result = None
    elif action == "cancel":
        new.cancelled_at = now
    _set_phase(new, now, policy)
    _log(new, now, lifecycle.ACTION_EVENT[action], note, actor=actor, from_status=before)
    return new


def check_deadlines(t: Ticket, now: datetime, *, policy: TicketPolicy, tz: tzinfo) -> Change | None:
    """Escalate a ticket whose deadline passed, or flag an overdue revisit; None when nothing is due."""
    now = aware(now, tz)
    if t.status == "resolved":
        if t.revisit_due_at is None or now < t.revisit_due_at or t.revisit_overdue:
            return None
        new = _edit(t)
        new.revisit_overdue = new.overdue = True
        due_text = f"{t.revisit_due_at.astimezone(tz):%Y-%m-%d %H:%M}"
        _log(new, now, "revisit_overdue", f"no revisit recorded by {due_text}")
        return Change(new, "revisit_overdue")
    if t.status not in lifecycle.ACTIVE or t.due_at is None:
        return None
    start = t.sla_started_at or t.opened_at
    target = sla.level_at(start, t.due_at, now, policy.escalation)
    becomes_overdue = now >= t.due_at and not t.overdue
    if target <= t.escalation_level and not becomes_overdue:
        return None
    new = _edit(t)
    new.overdue = new.overdue or now >= t.due_at
    phase = "respond" if t.status == "open" and t.due_at == t.respond_due_at else "resolve"
    due_text = f"{t.due_at.astimezone(tz):%Y-%m-%d %H:%M}"
    for level in range(t.escalation_level + 1, target + 1):
        who = policy.escalation.notify[level - 1] if level <= len(policy.escalation.notify) else ""
        note = f"level {level}: {phase} deadline {due_text} passed" + (f"; notify {who}" if who else "")
        new.escalation_level = level
        _log(new, now, "escalated", note)
    if target <= t.escalation_level:
        _log(new, now, "overdue", f"{phase} deadline {due_text} passed")
    new.next_escalation_at = sla.next_escalation(start, t.due_at, new.escalation_level, policy.escalation)
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
