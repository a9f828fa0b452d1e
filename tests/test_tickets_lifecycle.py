from __future__ import annotations

import itertools

import pytest

from gateway.tickets.lifecycle import (
    ACTIONS,
    STATUSES,
    IllegalTransition,
    UnknownAction,
    allowed_actions,
    next_status,
)

LEGAL = {
    ("open", "ack"): "acknowledged",
    ("open", "resolve"): "resolved",
    ("open", "cancel"): "cancelled",
    ("acknowledged", "resolve"): "resolved",
    ("acknowledged", "cancel"): "cancelled",
    ("resolved", "close"): "closed",
    ("resolved", "reopen"): "open",
    ("closed", "reopen"): "open",
    # The service loop's stages: accepting (or dispatching again) and arriving keep a ticket active;
    # a revisit closes a resolved ticket (a failed one reopens it: gateway/tickets/changes.py).
    ("open", "accept"): "acknowledged",
    ("acknowledged", "accept"): "acknowledged",
    ("open", "arrive"): "acknowledged",
    ("acknowledged", "arrive"): "acknowledged",
    ("resolved", "revisit"): "closed",
    ("open", "feedback"): "open",
    ("acknowledged", "feedback"): "acknowledged",
    ("resolved", "feedback"): "resolved",
    ("closed", "feedback"): "closed",
}


@pytest.mark.parametrize(("status", "action"), sorted(LEGAL))
def test_legal_transition_moves_to_expected_status(status: str, action: str) -> None:
    assert next_status("T-000001", status, action) == LEGAL[(status, action)]


ILLEGAL = sorted(set(itertools.product(STATUSES, ACTIONS)) - set(LEGAL))


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_every_other_transition_is_illegal_with_a_reason(status: str, action: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_status("T-000007", status, action)
    message = str(info.value)
    assert "T-000007" in message and status in message and action in message
    assert "allowed now" in message


def test_the_table_covers_all_forty_five_pairs() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(STATUSES) * len(ACTIONS) == 45


def test_cancelled_is_final() -> None:
    assert allowed_actions("cancelled") == []
    assert allowed_actions("open") == ["ack", "accept", "arrive", "resolve", "cancel", "feedback"]


def test_unknown_action_names_the_valid_ones() -> None:
    with pytest.raises(UnknownAction, match="ack, accept, arrive, resolve, close, reopen, cancel, revisit, feedback"):
        next_status("T-000001", "open", "escalate")
