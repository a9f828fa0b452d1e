"""The ticket state machine, pure: which action moves which status where, and nothing else.

    open --ack | accept | arrive--> acknowledged --resolve--> resolved --revisit ok | close--> closed
    open --resolve--> resolved               (fixed on the spot, or the condition cleared by itself)
    resolved --revisit failed--> open         (the resident says it is not fixed: rework)
    resolved | closed --reopen--> open
    open | acknowledged --cancel--> cancelled  (false alarm, duplicate, test)
    accept (dispatch to another person), arrive and feedback keep an active ticket's status.

Stage rules that need more than the status (a revisit by someone other than the repairer, a close
that needs a revisit first) live in gateway/tickets/changes.py.
"""

from __future__ import annotations

from typing import Final, Literal

from gateway.core.errors import SitegateError

Status = Literal["open", "acknowledged", "resolved", "closed", "cancelled"]
Action = Literal["ack", "accept", "arrive", "resolve", "close", "reopen", "cancel", "revisit", "feedback"]

STATUSES: Final[tuple[Status, ...]] = ("open", "acknowledged", "resolved", "closed", "cancelled")
ACTIONS: Final[tuple[Action, ...]] = ("ack", "accept", "arrive", "resolve", "close", "reopen", "cancel",
                                      "revisit", "feedback")
# The statuses in which a ticket holds its dedup key: a new event for the same rule and device
# updates this ticket instead of opening another (the store enforces it with a partial unique index).
ACTIVE: Final[tuple[Status, ...]] = ("open", "acknowledged")

TRANSITIONS: Final[dict[Action, dict[str, Status]]] = {
    "ack": {"open": "acknowledged"},
    "resolve": {"open": "resolved", "acknowledged": "resolved"},
    "close": {"resolved": "closed"},
    "reopen": {"resolved": "open", "closed": "open"},
    "cancel": {"open": "cancelled", "acknowledged": "cancelled"},
    "accept": {"open": "acknowledged", "acknowledged": "acknowledged"},
    "arrive": {"open": "acknowledged", "acknowledged": "acknowledged"},
    "revisit": {"resolved": "closed"},  # a failed revisit reopens instead (changes.apply_action)
    "feedback": {s: s for s in ("open", "acknowledged", "resolved", "closed")},
}

# History uses past-tense verbs for status changes, the same words as the ticket_event measurement.
ACTION_EVENT: Final[dict[str, str]] = {
    "ack": "acknowledged",
    "resolve": "resolved",
    "close": "closed",
    "reopen": "reopened",
    "cancel": "cancelled",
    "accept": "accepted",
    "arrive": "arrived",
    "revisit": "revisited",
    "feedback": "feedback",
}


class IllegalTransition(SitegateError):
    """An action that the ticket's current status does not allow; the API answers 409 with it."""

    def __init__(self, ticket_id: str, action: str, status: str) -> None:
        self.ticket_id, self.action, self.status = ticket_id, action, status
        allowed = ", ".join(a for a in ACTIONS if status in TRANSITIONS[a]) or "none"
        super().__init__(
            f"Ticket {ticket_id} is {status}, so it cannot be {ACTION_EVENT.get(action, action)} "
            f"({action}); actions allowed now: {allowed}."
        )


class UnknownAction(SitegateError):
    def __init__(self, action: str) -> None:
        super().__init__(f"'{action}' is not a ticket action; use one of {', '.join(ACTIONS)}.")


def parse_action(action: str) -> Action:
    for known in ACTIONS:
        if action == known:
            return known
    raise UnknownAction(action)


def next_status(ticket_id: str, status: str, action: str) -> Status:
    """The status after `action`, or IllegalTransition."""
    target = TRANSITIONS[parse_action(action)].get(status)
    if target is None:
        raise IllegalTransition(ticket_id, action, status)
    return target


def allowed_actions(status: str) -> list[Action]:
    return [a for a in ACTIONS if status in TRANSITIONS[a]]
