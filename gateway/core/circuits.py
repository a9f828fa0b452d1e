"""Circuits as asset registers name them: a distribution board feeds its ways, each named after the
board, a dash and the way's own name ending in its number (board AL5: AL5-WL1, AL5-WL2 ...).

A lamp's `circuit` is the way it hangs on; a board meter's `circuit` is its board, and it measures
way n on its channel n (`current_a`, `current_a_2` ...). The rules use this to say which circuit a
meter channel's alert is about, the tickets to decide which lamp faults an outage explains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WAY = re.compile(r"^[^-]*?(\d+)$")  # the way's own name: one level, ending in its number


def within(circuit: str, outer: str) -> bool:
    """`circuit` is `outer` or one of its ways: AL5-WL1 is within AL5 (and within AL5-WL1), AL50-WL1 is not."""
    return circuit == outer or circuit.startswith(f"{outer}-")


def way_number(circuit: str, board: str) -> int | None:
    """Which way of `board` the circuit is: AL5-WL2 -> 2; None for the board itself or another board's."""
    if not circuit.startswith(f"{board}-"):
        return None
    m = _WAY.match(circuit[len(board) + 1:])
    return int(m.group(1)) if m else None


def ways(board: str, circuits: Iterable[str]) -> dict[int, str]:
    """The circuits of `board` by way number, among the given names (the register's)."""
    found: dict[int, str] = {}
    for circuit in sorted(set(circuits)):
        n = way_number(circuit, board)
        if n is not None:
            found.setdefault(n, circuit)
    return found


def channel_circuit(board: str, channel: int, circuits: Iterable[str]) -> str | None:
    """The circuit a meter on `board` measures on `channel`: way `channel` of the board as the register
    names it. A board the register gives no ways is one circuit, measured on channel 1. None when the
    register does not say (a label no lamp carries, so an outage there mutes nothing)."""
    known = ways(board, circuits)
    if not known:
        return board if channel == 1 else None
    return known.get(channel)
