"""The patrol tracker on explicit times: every tap result, window edges, misses, time zones, restarts.

Plan: tests/data/patrol.yaml. Route night-north (ordered, 20:00, grace 10m, limit 45m):
gate-north (fixed reader, at 0 +/-5m), b1-lobby (fixed reader, at 6m +/-4m), b1-roof (tag, at 12m
+/-5m), garage-b1 (tag, at 25m +/-10m). Guard G017: card G0017, handheld hh-07.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.core.model import Tap
from gateway.patrol.model import PatrolPlan, load_plan
from gateway.patrol.tracker import PatrolChange, PatrolTracker, TapOutcome

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
PLAN = load_plan(Path(__file__).parent / "data" / "patrol.yaml")
NORTH_20 = "night-north@2026-11-23T20:00+08:00"
GATE, LOBBY, ROOF, GARAGE = "cp-gate-north", "cp-b1-lobby", "04A1B2C3", "04A1B2C4"
CARD, HANDHELD = "G0017", "hh-07"


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, micro, tzinfo=SH)


def tracker(plan: PatrolPlan = PLAN, **kw: Any) -> PatrolTracker:
    return PatrolTracker(plan, tz=kw.pop("tz", SH), site_id="harbor-view", **kw)


def tap(t: PatrolTracker, reader: str, tag: str, ts: datetime, now: datetime | None = None) -> TapOutcome:
    arrived = now or ts
    return t.on_tap(Tap(device=reader, tag=tag, ts=ts, received_at=arrived), arrived)


def started_at_20(**kw: Any) -> PatrolTracker:
    """A tracker whose 20:00 north round was anchored at exactly 20:00 by a gate tap."""
    t = tracker(**kw)
    t.tick(at(19, 50))
    assert tap(t, GATE, CARD, at(20)).result == "ok"
    return t


def kinds(changes: list[PatrolChange]) -> list[tuple[str, str | None]]:
    return [(c.kind, c.checkpoint) for c in changes]


def north(t: PatrolTracker, day: int = 23) -> dict[str, Any]:
    return next(r.to_dict() for r in t.rounds(date(2026, 11, day)) if r.round_id == NORTH_20)


# -- a normal round --------------------------------------------------------------------------------

def test_round_tapped_on_time_everywhere_completes_with_full_coverage() -> None:
    t = tracker()
    assert t.tick(at(19, 54)) == []
    assert t.tick(at(19, 55)) == []  # the round is open for early taps but not started
    assert north(t)["status"] == "scheduled"
    assert kinds(t.tick(at(20))) == [("round_started", None)]

    first = tap(t, GATE, CARD, at(20, 1))
    assert first.ack_topic == "sitegate/harbor-view/cp-gate-north/ack"
    assert first.ack == {"result": "ok", "checkpoint": "cp-gate-north", "route": "night-north",
                         "round": NORTH_20, "guard": "G017", "delay_s": 0.0}
    assert first.point_tags == {"route": "night-north", "checkpoint": "cp-gate-north", "guard": "G017",
                                "result": "ok"}
    assert first.point_fields == {"on_time": True, "delay_s": 0.0}
    assert tap(t, LOBBY, CARD, at(20, 7)).result == "ok"
    roof = tap(t, HANDHELD, ROOF, at(20, 14))  # expected 20:13 (anchor 20:01 + 12m)
    assert (roof.result, roof.ack["checkpoint"], roof.ack["guard"], roof.ack["delay_s"]) == \
        ("ok", "cp-b1-roof", "G017", 60.0)
    last = tap(t, HANDHELD, GARAGE, at(20, 30))
    assert kinds(last.changes) == [("round_completed", None)]
    assert last.changes[0].round_fields == {"expected": 4, "visited": 4, "late": 0, "missed": 0,
                                            "coverage": 1.0}
    view = north(t)
    assert (view["status"], view["started_at"], view["ended_at"], view["guard"]) == \
        ("completed", "2026-11-23T20:01:00+08:00", "2026-11-23T20:30:00+08:00", "G017")
    assert [c["state"] for c in view["checkpoints"]] == ["visited"] * 4
    assert t.tick(at(21)) == []  # nothing left to miss


def test_contract_fields_of_a_round_view() -> None:
    t = started_at_20()
    view = north(t)
    assert {k: view[k] for k in ("route", "round_id", "scheduled_start", "status", "expected", "visited",
                                 "missed", "late", "coverage")} == {
        "route": "night-north", "round_id": NORTH_20, "scheduled_start": "2026-11-23T20:00:00+08:00",
        "status": "in_progress", "expected": 4, "visited": 1, "missed": [], "late": 0, "coverage": 0.25}
    gate = view["checkpoints"][0]
    assert gate == {"id": "cp-gate-north", "name": "北门 North gate", "state": "visited",
                    "window_from": "2026-11-23T19:55:00+08:00", "window_to": "2026-11-23T20:05:00+08:00",
                    "tapped_at": "2026-11-23T20:00:00+08:00", "guard": "G017", "delay_s": 0.0,
                    "observations": []}


# -- window edges ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("ts", "result"), [
    (at(20, 1, 59, 999999), "early"),   # lobby window is [20:02, 20:10] with the anchor at 20:00
    (at(20, 2), "ok"),
    (at(20, 10), "ok"),
    (at(20, 10, 0, 1), "late"),
    (at(20, 45), "late"),               # the round's end (anchor + limit) is still inside it
    (at(20, 45, 0, 1), "off_schedule"),
])
def test_lobby_tap_at_each_window_edge(ts: datetime, result: str) -> None:
    t = started_at_20()
    assert tap(t, LOBBY, CARD, ts).result == result


def test_miss_is_declared_only_after_window_end_plus_settle_and_next_deadline_says_when() -> None:
    t = started_at_20(settle=timedelta(seconds=5))
    t.tick(at(20, 5))
    assert t.next_deadline() == at(20, 10, 5, 1)
    assert t.tick(at(20, 10, 5)) == []
    changes = t.tick(at(20, 10, 5, 1))
    assert kinds(changes) == [("checkpoint_missed", "cp-b1-lobby")]
    # Not final yet: until the round's end (20:45) a late tap still counts it. No ticket yet.
    assert changes[0].alert is None
    assert tap(t, HANDHELD, ROOF, at(20, 12)).result == "ok"
    assert tap(t, HANDHELD, GARAGE, at(20, 29)).result == "ok"
    assert t.tick(at(20, 45, 5)) == []
    changes = t.tick(at(20, 45, 5, 1))
    assert kinds(changes) == [("round_incomplete", None)]
    alert = changes[0].alert
    assert alert is not None
    assert (alert.rule, alert.device, alert.zone, alert.state, alert.severity, alert.ts, alert.key) == (
        "patrol.missed_checkpoint", "night-north", "b1", "firing", "minor", at(20, 45),
        f"patrol.missed:{NORTH_20}")
    assert alert.labels == {"route": "night-north", "round": NORTH_20, "missed": "cp-b1-lobby", "guard": "G017"}
    assert alert.title == ("漏巡 Missed checkpoints: 北区夜巡 North night round 2026-11-23 20:00, 1 of 4: "
                           "1号楼大堂 B1 lobby")
    assert alert.description == (
        f"Round {NORTH_20} (guard G017 王强 Wang Qiang): no counted tap inside the window of 1 of 4 "
        "checkpoints.\n- 1号楼大堂 B1 lobby (cp-b1-lobby, zone b1): window 20:02-20:10")
    assert north(t)["missed"] == ["cp-b1-lobby"]


def test_first_tap_inside_start_grace_moves_every_window() -> None:
    t = tracker()
    t.tick(at(20))
    assert tap(t, GATE, CARD, at(20, 8)).result == "ok"       # started 8 min late: within grace
    assert tap(t, LOBBY, CARD, at(20, 17)).result == "ok"     # 20:08 + 6m +/- 4m
    assert tap(t, HANDHELD, ROOF, at(20, 25)).ack["delay_s"] == 300.0  # 20:08 + 12m, 5 min behind: ok
    assert north(t)["started_at"] == "2026-11-23T20:08:00+08:00"


def test_start_after_grace_counts_from_the_end_of_grace() -> None:
    t = tracker()
    t.tick(at(20))
    assert tap(t, GATE, CARD, at(20, 15)).result == "ok"      # anchor 20:10, window ends 20:15
    t2 = tracker()
    t2.tick(at(20))
    late = tap(t2, GATE, CARD, at(20, 16))
    assert (late.result, late.ack["delay_s"], late.point_fields["on_time"]) == ("late", 360.0, False)


# -- each result -----------------------------------------------------------------------------------

def test_early_tap_is_not_counted_and_a_tap_inside_the_window_then_is() -> None:
    t = started_at_20()
    early = tap(t, LOBBY, CARD, at(20, 1))
    assert (early.result, early.ack["delay_s"]) == ("early", -300.0)
    assert north(t)["visited"] == 1
    assert tap(t, LOBBY, CARD, at(20, 5)).result == "ok"
    assert north(t)["visited"] == 2


def test_free_order_route_accepts_any_order() -> None:
    t = tracker()
    t.tick(at(21, 30))
    # plant-check 21:30: pump room (tag) at 5m, south gate (fixed reader) at 15m +/- 10m.
    assert tap(t, "cp-gate-south", "G0023", at(21, 36)).result == "ok"
    assert tap(t, "hh-09", "003B51C6", at(21, 38)).result == "ok"
    view = next(r for r in t.rounds(date(2026, 11, 23))
                if r.route == "plant-check" and r.status != "scheduled")
    assert (view.status, view.guard, view.coverage) == ("completed", "G023", 1.0)


def test_repeats_are_duplicates_and_never_counted_twice() -> None:
    t = started_at_20(debounce=timedelta(seconds=30))
    repeat = tap(t, GATE, CARD, at(20, 0, 29))
    assert repeat.ack == {"result": "duplicate", "checkpoint": "cp-gate-north", "route": "night-north",
                          "round": NORTH_20, "guard": "G017", "delay_s": 0.0}
    again = tap(t, GATE, CARD, at(20, 3))  # past the debounce, but already counted in this round
    assert (again.result, again.ack["round"]) == ("duplicate", NORTH_20)
    assert north(t)["visited"] == 1


def test_unknown_cards_and_tags_are_unknown_tag() -> None:
    t = started_at_20()
    stranger = tap(t, GATE, "FFFF0000", at(20, 1))
    assert (stranger.result, stranger.ack["checkpoint"], stranger.ack["guard"]) == \
        ("unknown_tag", "cp-gate-north", None)
    assert tap(t, HANDHELD, "FFFF0000", at(20, 1)).ack["guard"] == "G017"
    assert tap(t, "nobody", "FFFF0001", at(20, 1)).result == "unknown_tag"
    assert tap(t, GATE, ROOF, at(20, 2)).result == "unknown_tag"  # a checkpoint tag is not a guard card
    assert north(t)["visited"] == 1


def test_tap_outside_any_round_is_off_schedule() -> None:
    t = tracker()
    t.tick(at(18))
    out = tap(t, GATE, CARD, at(18, 30))
    assert out.ack == {"result": "off_schedule", "checkpoint": "cp-gate-north", "route": None,
                       "round": None, "guard": "G017", "delay_s": 0.0}
    assert out.point_tags["route"] == ""


def test_late_tap_after_a_miss_counts_and_no_ticket_was_raised_for_the_passing_miss() -> None:
    """A guard running late: the miss at window end is not final while a late tap still counts,
    so no missed-checkpoint alert is raised for it (found by the oracle: a ticket opened and resolved
    itself three minutes later at every checkpoint of a late round)."""
    t = started_at_20()
    missed = t.tick(at(20, 11))
    assert kinds(missed) == [("checkpoint_missed", "cp-b1-lobby")] and missed[0].alert is None
    late = tap(t, LOBBY, CARD, at(20, 12))
    assert (late.result, late.ack["delay_s"]) == ("late", 360.0)
    assert kinds(late.changes) == [("checkpoint_recovered", "cp-b1-lobby")]
    assert late.all_alerts == []
    view = north(t)
    assert (view["visited"], view["late"], view["missed"]) == (2, 1, [])


def test_round_with_missing_taps_ends_incomplete_at_its_limit() -> None:
    t = started_at_20()
    assert tap(t, LOBBY, CARD, at(20, 6)).result == "ok"
    changes = t.tick(at(21))
    assert kinds(changes) == [("checkpoint_missed", "cp-b1-roof"), ("checkpoint_missed", "cp-garage-b1"),
                              ("round_incomplete", None)]
    assert [c.ts for c in changes] == [at(20, 17), at(20, 35), at(20, 45)]
    assert changes[-1].round.round_fields() == {"expected": 4, "visited": 2, "late": 0, "missed": 2,
                                                "coverage": 0.5}
    assert north(t)["status"] == "incomplete"


def test_round_nobody_starts_uses_the_end_of_grace_for_its_deadlines() -> None:
    t = tracker()
    t.tick(at(19, 50))
    changes = t.tick(at(21))
    assert kinds(changes) == [("round_started", None), ("checkpoint_missed", "cp-gate-north"),
                              ("checkpoint_missed", "cp-b1-lobby"), ("checkpoint_missed", "cp-b1-roof"),
                              ("checkpoint_missed", "cp-garage-b1"), ("round_incomplete", None)]
    assert changes[1].ts == at(20, 15) and changes[-1].ts == at(20, 55)
    assert north(t)["coverage"] == 0.0


# -- a missed checkpoint costs that checkpoint only (ordered routes) -------------------------------
#
# Hand-computed truth for night-north 20:00 (grace 10m, limit 45m): with the anchor at 20:00 the windows
# are gate [19:55, 20:05], lobby [20:02, 20:10], roof [20:07, 20:17], garage [20:15, 20:35], end 20:45.

def figures(view: dict[str, Any]) -> tuple[object, ...]:
    return (view["status"], view["expected"], view["visited"], view["missed"], view["late"], view["coverage"])


def walk(t: PatrolTracker, taps: list[tuple[str, str, datetime]]) -> list[str]:
    """Tap in time order, ticking up to each tap as the pipeline does; the results in order."""
    results = []
    for reader, tag, ts in taps:
        t.tick(ts)
        results.append(tap(t, reader, tag, ts).result)
    return results


def test_a_missed_first_checkpoint_costs_only_that_checkpoint() -> None:
    t = tracker()
    t.tick(at(19, 50))
    results = walk(t, [(LOBBY, CARD, at(20, 6)), (HANDHELD, ROOF, at(20, 12)), (HANDHELD, GARAGE, at(20, 25))])
    assert results == ["ok", "ok", "ok"]
    t.tick(at(21))
    assert figures(north(t)) == ("incomplete", 4, 3, ["cp-gate-north"], 0, 0.75)
    assert north(t)["started_at"] == "2026-11-23T20:00:00+08:00"  # 20:06 - 6m


def test_a_skipped_middle_checkpoint_does_not_hold_up_the_ones_after_it() -> None:
    t = started_at_20()
    # Straight to the roof while the lobby's window is still open: the lobby is skipped, not waited for.
    assert walk(t, [(HANDHELD, ROOF, at(20, 9)), (HANDHELD, GARAGE, at(20, 25))]) == ["ok", "ok"]
    t.tick(at(21))
    assert figures(north(t)) == ("incomplete", 4, 3, ["cp-b1-lobby"], 0, 0.75)


def test_going_back_to_a_skipped_checkpoint_is_out_of_order_and_not_counted() -> None:
    t = started_at_20()
    assert walk(t, [(HANDHELD, ROOF, at(20, 8))]) == ["ok"]
    back = tap(t, LOBBY, CARD, at(20, 9))  # inside its own window, but after the roof
    assert (back.result, back.ack["checkpoint"], back.ack["round"]) == ("out_of_order", "cp-b1-lobby", NORTH_20)
    assert walk(t, [(HANDHELD, GARAGE, at(20, 20))]) == ["ok"]
    t.tick(at(21))
    assert figures(north(t)) == ("incomplete", 4, 3, ["cp-b1-lobby"], 0, 0.75)


def test_a_buffered_tap_made_in_order_counts_though_it_arrives_after_the_next_one() -> None:
    t = started_at_20()
    assert tap(t, HANDHELD, ROOF, at(20, 9)).result == "ok"
    # The lobby reader was offline: its 20:05 tap arrives after the roof's 20:09 one.
    assert tap(t, LOBBY, CARD, at(20, 5), now=at(20, 9, 30)).result == "ok"
    assert north(t)["visited"] == 3


def test_a_tap_inside_the_tolerance_before_the_scheduled_start_counts() -> None:
    t = tracker()
    t.tick(at(19, 50))
    first = tap(t, GATE, CARD, at(19, 56))
    assert (first.result, first.ack["round"], first.ack["delay_s"]) == ("ok", NORTH_20, -240.0)
    assert north(t)["started_at"] == "2026-11-23T20:00:00+08:00"  # never before the scheduled start
    assert tap(t, "hh-09", "003B51C6", at(19, 54, 59)).result == "off_schedule"  # before any round opens


def test_an_early_tap_is_not_counted_and_does_not_block_the_order() -> None:
    t = started_at_20()
    assert walk(t, [(HANDHELD, ROOF, at(20, 3)), (LOBBY, CARD, at(20, 6)), (HANDHELD, ROOF, at(20, 12)),
                    (HANDHELD, GARAGE, at(20, 25))]) == ["early", "ok", "ok", "ok"]
    assert figures(north(t)) == ("completed", 4, 4, [], 0, 1.0)


def test_late_taps_count_as_visited_and_as_late() -> None:
    t = started_at_20()
    # Lobby 2 min after its window, roof on time, garage 5 min after its window (the end is 20:45).
    assert walk(t, [(LOBBY, CARD, at(20, 12)), (HANDHELD, ROOF, at(20, 14)), (HANDHELD, GARAGE, at(20, 40))]) \
        == ["late", "ok", "late"]
    assert figures(north(t)) == ("completed", 4, 4, [], 2, 1.0)
    assert [c["state"] for c in north(t)["checkpoints"]] == ["visited", "late", "visited", "late"]


def test_two_guards_on_one_round_each_checkpoint_counts_once() -> None:
    t = started_at_20()  # G017 tapped the gate at 20:00
    results = walk(t, [
        (GATE, "G0023", at(20, 1)),          # G023 arrives at the gate too: already counted
        (LOBBY, CARD, at(20, 6)),            # G017 does the lobby
        ("hh-09", ROOF, at(20, 12)),         # G023 takes over for the roof and the garage
        (HANDHELD, ROOF, at(20, 13)),        # G017 reads the roof tag as well: already counted
        ("hh-09", GARAGE, at(20, 25)),
    ])
    assert results == ["duplicate", "ok", "ok", "duplicate", "ok"]
    view = north(t)
    assert figures(view) == ("completed", 4, 4, [], 0, 1.0)
    assert view["guard"] == "G017"
    assert [c["guard"] for c in view["checkpoints"]] == ["G017", "G017", "G023", "G023"]


def test_a_round_nobody_walks_misses_every_checkpoint() -> None:
    t = tracker()
    t.tick(at(19, 50))
    t.tick(at(21))
    assert figures(north(t)) == ("incomplete", 4, 0, ["cp-gate-north", "cp-b1-lobby", "cp-b1-roof",
                                                      "cp-garage-b1"], 0, 0.0)


# -- one missed-checkpoint alert per round ---------------------------------------------------------

def round_alerts(changes: list[PatrolChange]) -> list[tuple[str, str, str]]:
    return [(a.state, a.key, a.labels["missed"]) for c in changes if (a := c.alert) is not None]


def test_a_round_nobody_walks_raises_one_alert_key_listing_every_missed_checkpoint() -> None:
    t = tracker()
    t.tick(at(19, 50))
    alerts = []
    now = at(19, 50)
    while now < at(21):
        now += timedelta(minutes=1)
        alerts += [c.alert for c in t.tick(now) if c.alert is not None]
    key = f"patrol.missed:{NORTH_20}"
    assert {a.key for a in alerts} == {key}
    # One alert, when the round ends and every miss is final (a late tap could count any before).
    assert [a.labels["missed"] for a in alerts] == ["cp-gate-north,cp-b1-lobby,cp-b1-roof,cp-garage-b1"]
    last = alerts[-1]
    assert (last.rule, last.device, last.state, last.severity, last.auto_resolve, last.value) == (
        "patrol.missed_checkpoint", "night-north", "firing", "minor", True, 4)
    assert (last.labels["route"], last.labels["round"]) == ("night-north", NORTH_20)
    for name in ("北门 North gate", "1号楼大堂 B1 lobby", "1号楼天台 B1 roof", "地下车库 Garage B1"):
        assert name in last.description
    assert "4 of 4" in last.title


def test_misses_declared_together_give_one_alert() -> None:
    t = started_at_20()
    tap(t, LOBBY, CARD, at(20, 6))
    changes = t.tick(at(21))  # roof and garage missed, then the round ends, in one step
    assert round_alerts(changes) == [("firing", f"patrol.missed:{NORTH_20}", "cp-b1-roof,cp-garage-b1")]


def test_a_recovered_checkpoint_updates_the_round_alert_and_the_last_one_clears_it() -> None:
    t = started_at_20()
    assert round_alerts(t.tick(at(20, 18))) == []  # lobby and roof windows closed: not final yet
    assert tap(t, HANDHELD, GARAGE, at(20, 29)).result == "ok"
    assert round_alerts(t.tick(at(20, 46))) == [  # the round has ended without them
        ("firing", f"patrol.missed:{NORTH_20}", "cp-b1-lobby,cp-b1-roof")]
    # Buffered taps made in time arrive after the end: each counts after all.
    lobby = tap(t, LOBBY, CARD, at(20, 6), now=at(20, 50))
    assert round_alerts(lobby.changes) == [("firing", f"patrol.missed:{NORTH_20}", "cp-b1-roof")]
    roof = tap(t, HANDHELD, ROOF, at(20, 12), now=at(20, 50))
    assert round_alerts(roof.changes) == [("cleared", f"patrol.missed:{NORTH_20}", "")]


# -- buffered taps and clocks ----------------------------------------------------------------------

def test_buffered_taps_are_judged_on_their_own_time_not_on_arrival() -> None:
    t = tracker()
    first = t.tick(at(20, 20))  # the readers were offline: gate and lobby missed meanwhile
    assert ("checkpoint_missed", "cp-gate-north") in kinds(first)
    arrived = at(20, 21)
    gate = tap(t, GATE, CARD, at(20, 1), now=arrived)
    assert gate.result == "ok"
    assert kinds(gate.changes) == [("checkpoint_recovered", "cp-gate-north")]
    assert tap(t, LOBBY, CARD, at(20, 7), now=arrived).result == "ok"
    view = north(t)
    assert (view["started_at"], view["visited"], view["missed"]) == ("2026-11-23T20:01:00+08:00", 2, [])


def test_buffered_tap_for_an_ended_round_revises_it() -> None:
    t = started_at_20()
    for reader, tag, ts in ((LOBBY, CARD, at(20, 6)), (HANDHELD, ROOF, at(20, 12))):
        tap(t, reader, tag, ts)
    assert kinds(t.tick(at(21)))[-1] == ("round_incomplete", None)
    late_news = tap(t, HANDHELD, GARAGE, at(20, 26), now=at(21, 5))
    assert late_news.result == "ok"
    assert kinds(late_news.changes) == [("checkpoint_recovered", "cp-garage-b1"), ("round_revised", None)]
    assert late_news.changes[-1].round.status == "completed"
    assert north(t)["coverage"] == 1.0


def test_a_round_completed_by_a_buffered_tap_after_its_end_ended_at_that_tap() -> None:
    t = started_at_20()
    for reader, tag, ts in ((LOBBY, CARD, at(20, 6)), (HANDHELD, ROOF, at(20, 12))):
        tap(t, reader, tag, ts)
    t.tick(at(21))  # ended incomplete at 20:45, the garage missed
    assert tap(t, HANDHELD, GARAGE, at(20, 26), now=at(21, 5)).result == "ok"
    # It was complete when the guard read the garage tag, as if the handheld had been online.
    assert (north(t)["status"], north(t)["ended_at"]) == ("completed", "2026-11-23T20:26:00+08:00")


def walk_arriving(t: PatrolTracker, taps: list[tuple[str, str, datetime, datetime]]) -> list[str]:
    """Taps (reader, tag, made, arrived) in arrival order, ticking up to each arrival."""
    results = []
    for reader, tag, ts, arrived in taps:
        t.tick(arrived)
        results.append(tap(t, reader, tag, ts, now=arrived).result)
    return results


def test_two_checkpoints_tapped_the_wrong_way_round_count_the_same_whatever_order_the_taps_arrive_in() -> None:
    # The guard reads the roof tag at 20:08 (handheld), then goes back to the lobby reader at 20:09:
    # both inside their windows (roof 20:07-20:17, lobby 20:02-20:10), the roof tapped first.
    made = [(GATE, CARD, at(20)), (HANDHELD, ROOF, at(20, 8)), (LOBBY, CARD, at(20, 9)),
            (HANDHELD, GARAGE, at(20, 25))]
    in_time = tracker()
    in_time.tick(at(19, 50))
    assert walk(in_time, made) == ["ok", "ok", "out_of_order", "ok"]
    in_time.tick(at(21))
    # The handheld was offline until 20:12: its roof read arrives after the lobby tap.
    buffered = tracker()
    buffered.tick(at(19, 50))
    assert walk_arriving(buffered, [(GATE, CARD, at(20), at(20)), (LOBBY, CARD, at(20, 9), at(20, 9))]) \
        == ["ok", "ok"]  # the lobby's ack came before the roof was known
    buffered.tick(at(20, 12))
    roof = tap(buffered, HANDHELD, ROOF, at(20, 8), now=at(20, 12))
    # The roof was tapped first: it counts, and going back to the lobby (window closed at 20:10) was not.
    assert roof.result == "ok"
    assert kinds(roof.changes) == [("checkpoint_missed", "cp-b1-lobby")]
    assert roof.all_alerts == []  # the round's ticket waits for its end, when misses are final
    assert walk_arriving(buffered, [(HANDHELD, GARAGE, at(20, 25), at(20, 25))]) == ["ok"]
    ended = buffered.tick(at(21))
    assert [(c.alert.state, c.alert.labels["missed"]) for c in ended if c.alert] == [("firing", "cp-b1-lobby")]
    for t in (in_time, buffered):
        assert figures(north(t)) == ("incomplete", 4, 3, ["cp-b1-lobby"], 0, 0.75)
        assert [c["state"] for c in north(t)["checkpoints"]] == ["visited", "missed", "visited", "visited"]


def test_a_buffered_first_tap_sets_the_anchor_and_the_rounds_guard() -> None:
    # Plant check 21:30 (free order, grace 5m): G017 reads the pump room tag (at 5m +/-5m) at 21:38 on
    # a handheld that uploads at 21:50; G023 taps the south gate reader (at 15m +/-10m) at 21:47.
    t = tracker()
    t.tick(at(21, 20))
    walk_arriving(t, [("cp-gate-south", "G0023", at(21, 47), at(21, 47)),
                      (HANDHELD, "003B51C6", at(21, 38), at(21, 50))])
    t.tick(at(22, 10))
    view = next(r.to_dict() for r in t.rounds(date(2026, 11, 23)) if r.round_id == "plant-check@2026-11-23T21:30+08:00")
    # Started by G017's tap at 21:38: anchor 21:33, so the pump room is on plan, the gate a minute ahead.
    assert (view["status"], view["started_at"], view["guard"]) == ("completed", "2026-11-23T21:33:00+08:00", "G017")
    assert [(c["id"], c["guard"], c["delay_s"]) for c in view["checkpoints"]] == [
        ("cp-pump-room", "G017", 0.0), ("cp-gate-south", "G023", -60.0)]
    assert view["ended_at"] == "2026-11-23T21:47:00+08:00"


def test_taps_from_the_future_or_the_distant_past_are_rejected_with_a_reason() -> None:
    t = started_at_20(max_skew=timedelta(minutes=2), max_age=timedelta(hours=12))
    future = tap(t, LOBBY, CARD, at(20, 9), now=at(20, 6))
    assert (future.result, future.ack["reason"], future.rejection and future.rejection.reason) == \
        ("off_schedule", "tap_in_future", "tap_in_future")
    old = tap(t, LOBBY, CARD, at(7), now=at(20, 6))
    assert old.rejection is not None and old.rejection.reason == "tap_too_old"
    assert "check the reader's clock" in old.rejection.detail
    assert tap(t, LOBBY, CARD, at(20, 7), now=at(20, 6)).result == "ok"  # within the skew bound


# -- both deployments and event cards --------------------------------------------------------------

def test_both_reader_styles_identify_checkpoint_and_guard() -> None:
    t = started_at_20()
    fixed = tap(t, LOBBY, "g0023 ", at(20, 6))  # card read with other case and a trailing blank
    assert (fixed.ack["checkpoint"], fixed.ack["guard"]) == ("cp-b1-lobby", "G023")
    handheld = tap(t, "hh-09", ROOF, at(20, 12))
    assert (handheld.ack["checkpoint"], handheld.ack["guard"], handheld.result) == \
        ("cp-b1-roof", "G023", "ok")
    unregistered = tap(t, "hh-spare", GARAGE, at(20, 25))
    assert (unregistered.ack["checkpoint"], unregistered.ack["guard"], unregistered.result) == \
        ("cp-garage-b1", None, "ok")


def test_event_card_after_a_fixed_reader_checkpoint_records_an_observation() -> None:
    t = started_at_20()
    out = tap(t, GATE, "EV-LAMP", at(20, 1))
    assert out.ack == {"result": "ok", "checkpoint": "cp-gate-north", "route": "night-north",
                       "round": NORTH_20, "guard": "G017", "delay_s": 0.0, "event": "lamp_out"}
    [alert] = out.alerts
    assert (alert.rule, alert.device, alert.zone, alert.state, alert.severity, alert.ts) == (
        "patrol.observation.lamp_out", "cp-gate-north", "north", "firing", "minor", at(20, 1))
    assert north(t)["checkpoints"][0]["observations"] == [
        {"event": "lamp_out", "ts": "2026-11-23T20:01:00+08:00", "guard": "G017"}]
    assert tap(t, GATE, "EV-LAMP", at(20, 1, 10)).result == "duplicate"  # held on the reader


def test_event_card_on_a_handheld_attaches_to_the_last_checkpoint_tapped() -> None:
    t = started_at_20()
    tap(t, LOBBY, CARD, at(20, 5))
    tap(t, HANDHELD, ROOF, at(20, 12))
    leak = tap(t, HANDHELD, "EV-LEAK", at(20, 13))
    [alert] = leak.alerts
    assert (alert.rule, alert.device, alert.zone, alert.severity) == ("patrol.observation.leak", "cp-b1-roof",
                                                                      "b1", "major")
    assert alert.labels["round"] == NORTH_20 and alert.labels["guard"] == "G017"


def test_an_event_card_at_a_checkpoint_at_a_device_reports_that_devices_fault_by_the_guard() -> None:
    plan = PLAN.model_copy(update={"checkpoints": [
        c.model_copy(update={"device": "lamp-gate-1"}) if c.id == "cp-gate-north" else c for c in PLAN.checkpoints]})
    t = started_at_20(plan=plan)
    [alert] = tap(t, GATE, "EV-LAMP", at(20, 1)).alerts
    assert (alert.device, alert.zone, alert.labels["checkpoint"]) == ("lamp-gate-1", "north", "cp-gate-north")
    assert (alert.labels["fault"], alert.labels["reported_by"]) == ("lamp_out", "G017")
    assert alert.key == "fault:lamp_out:lamp-gate-1"  # the key of the lamp's own lighting.lamp_out ticket


def test_event_card_without_a_recent_checkpoint_is_out_of_order_and_raises_nothing() -> None:
    t = started_at_20()
    alone = tap(t, "hh-09", "EV-DOOR", at(20, 2))
    assert (alone.result, alone.alerts) == ("out_of_order", [])
    tap(t, HANDHELD, ROOF, at(20, 12))
    stale = tap(t, HANDHELD, "EV-DOOR", at(20, 17, 1))  # event_window is 5m
    assert (stale.result, stale.alerts) == ("out_of_order", [])


# -- midnight, time zones, restarts, replay --------------------------------------------------------

def test_round_crossing_midnight_belongs_to_the_day_it_started() -> None:
    t = tracker()
    t.tick(at(22, 30))
    assert next(r.round_id for r in t.rounds(date(2026, 11, 24)) if r.route == "night-north") == \
        "night-north@2026-11-24T00:00+08:00"
    late_plan = PLAN.model_copy(update={"routes": [PLAN.route("night-north").model_copy(
        update={"schedule": "50 23 * * *"})]})
    t = tracker(late_plan)
    t.tick(at(23, 40))
    for reader, tag, ts in ((GATE, CARD, at(23, 50)), (LOBBY, CARD, at(23, 56)),
                            (HANDHELD, ROOF, at(0, 2, day=24)), (HANDHELD, GARAGE, at(0, 15, day=24))):
        assert tap(t, reader, tag, ts).result == "ok"
    [view] = t.rounds(date(2026, 11, 23))
    assert (view.round_id, view.status, view.ended_at) == (
        "night-north@2026-11-23T23:50+08:00", "completed", "2026-11-24T00:15:00+08:00")
    assert [r.status for r in t.rounds(date(2026, 11, 24))] == ["scheduled"]  # tonight's, still to come


def _berlin_plan(schedule: str, at_offset: str) -> PatrolPlan:
    return PatrolPlan.model_validate({
        "checkpoints": [{"id": "cp-1", "zone": "z", "reader": "rd-1"},
                        {"id": "cp-2", "zone": "z", "tag": "T2"}],
        "guards": [{"id": "G1", "card": "C1", "reader": "hh-1"}],
        "routes": [{"id": "r", "schedule": schedule, "limit": "3h", "checkpoints": [
            {"id": "cp-1", "at": "0m", "tolerance": "5m"},
            {"id": "cp-2", "at": at_offset, "tolerance": "10m"}]}],
    })


def test_spring_forward_round_in_the_skipped_hour_starts_after_the_change() -> None:
    t = tracker(_berlin_plan("30 2 * * *", "60m"), tz=BERLIN)
    t.tick(datetime(2026, 3, 29, 0, 0, tzinfo=UTC))  # 01:00 CET
    t.tick(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # 03:30 CEST
    [view] = t.rounds(date(2026, 3, 29))
    assert (view.round_id, view.status) == ("r@2026-03-29T03:30+02:00", "in_progress")
    # cp-2 is due 60 real minutes later, 04:30 CEST.
    assert view.checkpoints[1].window_from == "2026-03-29T04:20:00+02:00"


def test_fall_back_windows_are_measured_in_real_time_across_the_repeated_hour() -> None:
    t = tracker(_berlin_plan("0 1 * * *", "90m"), tz=BERLIN)
    t.tick(datetime(2026, 10, 24, 22, 50, tzinfo=UTC))    # 00:50 CEST
    assert tap(t, "rd-1", "C1", datetime(2026, 10, 24, 23, 0, tzinfo=UTC)).result == "ok"  # 01:00 CEST
    # 90 real minutes after 01:00 CEST is 02:30 CEST (00:30 UTC); 02:30 CET is an hour later.
    assert tap(t, "hh-1", "T2", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)).result == "late"
    t2 = tracker(_berlin_plan("0 1 * * *", "90m"), tz=BERLIN)
    t2.tick(datetime(2026, 10, 24, 22, 50, tzinfo=UTC))
    tap(t2, "rd-1", "C1", datetime(2026, 10, 24, 23, 0, tzinfo=UTC))
    on_time = tap(t2, "hh-1", "T2", datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    assert (on_time.result, on_time.ack["round"]) == ("ok", "r@2026-10-25T01:00+02:00")
    assert t2.rounds(date(2026, 10, 25))[0].checkpoints[1].tapped_at == "2026-10-25T02:30:00+02:00"


def test_restart_mid_round_continues_without_double_counting() -> None:
    before = started_at_20()
    tap(before, LOBBY, CARD, at(20, 6))
    before.tick(at(20, 18))  # roof window [20:07, 20:17] closed: missed, alert already sent
    saved = json.loads(json.dumps(before.snapshot()))

    after = tracker()
    after.restore(saved)
    redelivered = tap(after, LOBBY, CARD, at(20, 6), now=at(20, 19))  # QoS1 redelivery after a crash
    assert redelivered.result == "duplicate" and redelivered.changes == []
    assert tap(after, GATE, CARD, at(20, 19, 30)).result == "duplicate"  # counted before the restart
    assert tap(after, HANDHELD, GARAGE, at(20, 24)).result == "ok"
    end = after.tick(at(21))
    assert kinds(end) == [("round_incomplete", None)]  # no second round_started, no second miss
    assert end[0].round.round_fields() == {"expected": 4, "visited": 3, "late": 0, "missed": 1,
                                           "coverage": 0.75}


def test_a_restored_tracker_still_judges_a_buffered_tap_against_the_taps_before_the_restart() -> None:
    before = tracker()
    before.tick(at(19, 50))
    walk_arriving(before, [(GATE, CARD, at(20), at(20)), (LOBBY, CARD, at(20, 9), at(20, 9))])
    saved = json.loads(json.dumps(before.snapshot()))
    after = tracker()
    after.restore(saved)
    after.tick(at(20, 12))
    assert tap(after, HANDHELD, ROOF, at(20, 8), now=at(20, 12)).result == "ok"
    assert [c["state"] for c in north(after)["checkpoints"]][:3] == ["visited", "missed", "visited"]
    # A snapshot written before rounds kept their taps restores them from its counted visits.
    for item in saved["rounds"]:
        del item["taps"]
    older = tracker()
    older.restore(saved)
    older.tick(at(20, 12))
    assert tap(older, HANDHELD, ROOF, at(20, 8), now=at(20, 12)).result == "ok"
    assert north(older)["missed"] == ["cp-b1-lobby"]


def test_fresh_tracker_picks_up_the_round_already_running_but_not_finished_ones() -> None:
    t = tracker()
    t.tick(at(20, 20))
    views = {r.round_id: r.status for r in t.rounds(date(2026, 11, 23))}
    assert views[NORTH_20] == "in_progress"
    t_late = tracker()
    t_late.tick(at(21, 20))
    # The 20:00 round ended before this tracker existed: it was never observed, so it is not judged.
    assert NORTH_20 not in {r.round_id for r in t_late.rounds(date(2026, 11, 23))}
    assert t_late.tick(at(21, 21)) == []


def test_driving_by_next_deadline_gives_the_same_changes_as_ticking_every_minute() -> None:
    def night(drive_by_deadline: bool) -> list[tuple[str, str | None, datetime]]:
        t = tracker()
        taps = [(GATE, CARD, at(20, 3)), (HANDHELD, ROOF, at(20, 16)), ("hh-09", "003B51C6", at(21, 36))]
        out: list[tuple[str, str | None, datetime]] = []
        now = at(19)
        out += [(c.kind, c.checkpoint, c.ts) for c in t.tick(now)]
        end = at(23, 59)
        while now < end:
            if drive_by_deadline:
                deadline = t.next_deadline()
                assert deadline is not None and deadline > now
                now = min(deadline, end)
            else:
                now += timedelta(minutes=1)
            while taps and taps[0][2] <= now:
                reader, tag, ts = taps.pop(0)
                out += [(c.kind, c.checkpoint, c.ts) for c in tap(t, reader, tag, ts, now=now).changes]
            out += [(c.kind, c.checkpoint, c.ts) for c in t.tick(now)]
        return out

    by_deadline, by_minute = night(True), night(False)
    assert by_deadline == by_minute
    assert ("round_incomplete", None, at(20, 48)) in by_deadline  # anchored 20:03, limit 45m


def test_checkpoint_on_two_routes_counts_in_the_round_whose_window_fits() -> None:
    plan = PatrolPlan.model_validate({
        "checkpoints": [{"id": "cp-1", "zone": "z", "reader": "rd-1"},
                        {"id": "cp-2", "zone": "z", "tag": "T2"}],
        "guards": [{"id": "G1", "card": "C1"}],
        "routes": [
            {"id": "a", "schedule": "0 20 * * *", "limit": "40m", "checkpoints": [
                {"id": "cp-1", "at": "0m", "tolerance": "5m"}, {"id": "cp-2", "at": "10m"}]},
            {"id": "b", "schedule": "0 20 * * *", "limit": "40m", "checkpoints": [
                {"id": "cp-2", "at": "0m"}, {"id": "cp-1", "at": "30m", "tolerance": "5m"}]},
        ]})
    t = tracker(plan)
    t.tick(at(19, 50))
    assert tap(t, "rd-1", "C1", at(20, 1)).ack["route"] == "a"
    assert tap(t, "rd-1", "C1", at(20, 30)).ack["route"] == "b"  # a duplicate in "a", on time in "b"


def test_site_without_routes_judges_taps_without_failing() -> None:
    t = tracker(PatrolPlan.model_validate({"checkpoints": [{"id": "cp-1", "reader": "rd-1"}],
                                           "guards": [{"id": "G1", "card": "C1"}]}))
    assert t.tick(at(20)) == [] and t.next_deadline() is None
    assert tap(t, "rd-1", "C1", at(20, 1)).result == "off_schedule"
    assert tap(t, "rd-1", "C2", at(20, 2)).result == "unknown_tag"
    assert t.rounds(date(2026, 11, 23)) == []
