"""Circuits as asset registers name them: boards, their numbered ways, and which way a meter channel is."""

from __future__ import annotations

from gateway.core.circuits import channel_circuit, way_number, ways, within

REGISTER = ["AL5", "AL5-WL1", "AL5-WL2", "AL5-WL12", "AL5-WL2-A", "AL50-WL2", "AL6"]


def test_a_way_is_within_its_board_and_another_board_of_a_longer_name_is_not() -> None:
    assert within("AL5-WL2", "AL5") and within("AL5", "AL5") and within("AL5-WL2", "AL5-WL2")
    assert not within("AL50-WL2", "AL5") and not within("AL5", "AL5-WL2")


def test_the_way_number_is_the_number_that_ends_the_ways_own_name() -> None:
    assert [way_number(c, "AL5") for c in REGISTER] == [None, 1, 2, 12, None, None, None]
    assert way_number("AL5-2", "AL5") == 2 and way_number("P1-L03", "P1") == 3


def test_a_meter_channel_is_the_way_of_its_number_or_the_whole_board_when_it_has_no_ways() -> None:
    assert ways("AL5", REGISTER) == {1: "AL5-WL1", 2: "AL5-WL2", 12: "AL5-WL12"}
    assert [channel_circuit("AL5", n, REGISTER) for n in (1, 2, 3, 12)] == ["AL5-WL1", "AL5-WL2", None, "AL5-WL12"]
    assert [channel_circuit("AL6", n, REGISTER) for n in (1, 2)] == ["AL6", None]
