"""The patrol oracle: the simulator's guards make the night's mistakes, its ground truth says what
each round really was, and the real PatrolTracker, fed the same taps, must reach the same figures.

Demo site (examples/demo-site/patrol.yaml): night-north and night-south are ordered with fixed
readers at gates and lobbies and tags on roofs, night-garage is free order, night-perimeter is
ordered and almost all tags. Rounds at 20:00, 22:00, 00:00, 02:00 and 04:00, Asia/Shanghai.

Each mistake kind has a focused test on the 22:00 round of 2026-11-24 on every route that allows it,
with the intended effect written out by hand beside the comparison with the tracker; then twenty
seeded nights from 2026-11-10, every round compared, again with the handhelds uploading late; and
the midnight rounds of one night through real mosquitto into a running gateway.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from gateway.app.features import attach_features
from gateway.app.simulator import SimSite, Simulator, SiteClock, load_sim_site, run_simulation
from gateway.app.simulator.faults import FaultPlan
from gateway.app.simulator.mistakes import (
    EARLY_START,
    KINDS,
    LATE,
    MISSED_FIRST,
    NOT_WALKED,
    SHARED_ROUND,
    SKIPPED_MIDDLE,
    WRONG_ORDER,
    PatrolIncident,
    make_mistake,
    night_mistakes,
    rotated_kind,
)
from gateway.app.simulator.patrol import PatrolWalker, PlannedTap
from gateway.app.simulator.sky import Sky
from gateway.app.simulator.truth import RoundTruth, round_truth, round_truths
from gateway.core.clock import FakeClock
from gateway.core.model import Tap
from gateway.core.paths import demo_site_dir
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.patrol.model import Route
from gateway.patrol.rounds import CheckpointView, RoundView
from gateway.patrol.tracker import PatrolTracker
from gateway.web.app import create_app
from tests.support.gateway_proc import wait_for
from tests.support.mosquitto import Broker

TZ = ZoneInfo("Asia/Shanghai")
SEED = 7
START = datetime(2026, 11, 24, 22, 0, tzinfo=TZ)  # the round every focused test walks
ROUTES = ("night-north", "night-south", "night-garage", "night-perimeter")
FIRST_NIGHT = date(2026, 11, 10)
ARRIVAL = timedelta(seconds=1)  # a tap reaches the gateway a second after the reader made it


@pytest.fixture(scope="module")
def site() -> SimSite:
    return load_sim_site(load_site(demo_site_dir() / "site.yaml"))


def walker(site: SimSite, seed: int = SEED) -> PatrolWalker:
    return PatrolWalker(site, FaultPlan(site, Sky(site.latitude, site.longitude, site.tz), seed), seed)


# -- comparing -----------------------------------------------------------------------------------

def facts(r: RoundView | RoundTruth | dict[str, Any]) -> dict[str, object]:
    """Everything the tracker concludes about a round, in a form both sides give."""
    if isinstance(r, dict):  # a round of /api/patrol/rounds
        r = RoundView(**{**r, "checkpoints": [CheckpointView(**c) for c in r["checkpoints"]]})
    if isinstance(r, RoundView):
        stops = [(c.id, c.state, c.tapped_at, c.guard, c.delay_s, tuple(o["event"] for o in c.observations))
                 for c in r.checkpoints]
    else:
        stops = [(c.id, c.state, c.tapped_at, c.guard, c.delay_s, c.events) for c in r.checkpoints]
    return {"status": r.status, "expected": r.expected, "visited": r.visited, "late": r.late,
            "missed": list(r.missed), "coverage": r.coverage, "started_at": r.started_at,
            "ended_at": r.ended_at, "guard": r.guard, "checkpoints": stops}


def at_once(tap: PlannedTap) -> datetime:
    return tap.ts + ARRIVAL


def track(site: SimSite, taps: list[PlannedTap], begin: datetime, end: datetime,
          tracker: PatrolTracker | None = None, arrival: Callable[[PlannedTap], datetime] = at_once,
          ) -> tuple[PatrolTracker, dict[tuple[str, str, str], str]]:
    """Feed `taps` to a tracker as the gateway does (ticking every site minute on a FakeClock, each
    tap when it arrives: by default a second after it was made) from `begin` to `end`; the tracker
    and the ack result per tap."""
    clock = FakeClock(begin)
    tracker = tracker or PatrolTracker(site.plan, tz=TZ, site_id=site.site_id)
    tracker.tick(clock.now())
    acks: dict[tuple[str, str, str], str] = {}
    queue = sorted(taps, key=lambda t: (arrival(t), t.ts))
    while clock.now() < end:
        clock.advance(timedelta(minutes=1))
        while queue and arrival(queue[0]) <= clock.now():
            tap = queue.pop(0)
            arrived = arrival(tap)
            tracker.tick(arrived)
            outcome = tracker.on_tap(Tap(device=tap.reader, tag=tap.tag, ts=tap.ts, received_at=arrived), arrived)
            acks[(tap.reader, tap.tag, tap.ts.astimezone(TZ).isoformat())] = outcome.result
        tracker.tick(clock.now())
    assert not queue, "every tap was sent"
    return tracker, acks


def expected_acks(truth: RoundTruth) -> dict[tuple[str, str, str], str]:
    return {(t.reader, t.tag, t.ts): t.result for t in truth.taps}


@dataclass
class Walked:
    route: Route
    mistake: PatrolIncident
    taps: list[PlannedTap]  # checkpoint taps only
    truth: RoundTruth
    view: RoundView


def walk(site: SimSite, kind: str, route_id: str) -> Walked:
    """The 22:00 round of `route_id` walked with a mistake of `kind`, tracked past its end; the view
    must equal the truth in every figure and every tap's ack."""
    route = site.plan.route(route_id)
    mistake = make_mistake(kind, route, START, TZ, guards=len(site.plan.guards), seed=SEED)
    assert mistake is not None
    taps = walker(site).walk(route, START, mistake)
    truth = round_truth(site.plan, route, START, taps, TZ, mistake)
    tracker, acks = track(site, taps, START - timedelta(minutes=30), START + route.span + timedelta(minutes=2))
    view = tracker.round(truth.round_id)
    assert view is not None
    assert facts(view) == facts(truth)
    assert acks == expected_acks(truth)
    return Walked(route, mistake, [t for t in taps if t.event is None], truth, view)


def ids(route: Route) -> list[str]:
    return [c.id for c in route.checkpoints]


def states(view: RoundView) -> dict[str, str]:
    return {c.id: c.state for c in view.checkpoints}


# -- one test per mistake ------------------------------------------------------------------------

@pytest.mark.parametrize("route_id", ROUTES)
def test_a_missed_first_checkpoint_costs_only_that_checkpoint(site: SimSite, route_id: str) -> None:
    w = walk(site, MISSED_FIRST, route_id)
    first, n = ids(w.route)[0], len(w.route.checkpoints)
    assert first not in {t.checkpoint for t in w.taps}
    assert (w.view.status, w.view.missed, w.view.visited, w.view.late) == ("incomplete", [first], n - 1, 0)
    assert w.view.coverage == (n - 1) / n
    assert w.view.started_at is not None  # anchored by the first checkpoint tapped


@pytest.mark.parametrize("route_id", ROUTES)
def test_an_early_first_tap_inside_its_tolerance_counts(site: SimSite, route_id: str) -> None:
    w = walk(site, EARLY_START, route_id)
    first = w.taps[0]
    stop = w.route.checkpoints[0]
    assert first.checkpoint == stop.id
    assert START + stop.at - stop.tolerance < first.ts < START  # before the start, inside the tolerance
    assert (w.view.status, w.view.missed, w.view.visited, w.view.late, w.view.coverage) == \
        ("completed", [], len(w.route.checkpoints), 0, 1.0)
    # The round never starts before its scheduled start; the first tap is `shift` ahead of it.
    assert w.view.started_at == START.isoformat()
    assert w.view.checkpoints[0].delay_s == -w.mistake.shift.total_seconds()
    assert all(c.delay_s is not None and c.delay_s <= 0 for c in w.view.checkpoints[1:])  # kept ahead


@pytest.mark.parametrize("route_id", ROUTES)
def test_a_skipped_middle_checkpoint_costs_only_that_checkpoint(site: SimSite, route_id: str) -> None:
    w = walk(site, SKIPPED_MIDDLE, route_id)
    [skipped] = w.mistake.checkpoints
    assert skipped in ids(w.route)[1:-1]
    n = len(w.route.checkpoints)
    assert (w.view.status, w.view.missed, w.view.visited, w.view.late) == ("incomplete", [skipped], n - 1, 0)
    assert [cp for cp, state in states(w.view).items() if state != "visited"] == [skipped]


@pytest.mark.parametrize("route_id", [r for r in ROUTES if r != "night-garage"])
def test_two_checkpoints_the_wrong_way_round_cost_the_one_gone_back_to(site: SimSite, route_id: str) -> None:
    w = walk(site, WRONG_ORDER, route_id)
    later, earlier = w.mistake.checkpoints
    route_order = ids(w.route)
    assert route_order.index(later) == route_order.index(earlier) + 1
    walked = [t.checkpoint for t in w.taps]
    assert walked.index(later) == walked.index(earlier) - 1  # tapped the later one first
    # The tracker's rule (README "Patrol"): a checkpoint walked past is skipped, and going back to it is
    # out_of_order; the one tapped first counts, and so do the ones after, in order and in window.
    assert (w.view.status, w.view.missed, w.view.visited, w.view.late) == \
        ("incomplete", [earlier], len(route_order) - 1, 0)
    back = next(t for t in w.truth.taps if t.checkpoint == earlier)
    assert back.result == "out_of_order"
    assert states(w.view)[later] == "visited"


def test_a_free_order_route_cannot_be_walked_the_wrong_way_round(site: SimSite) -> None:
    garage = site.plan.route("night-garage")
    assert make_mistake(WRONG_ORDER, garage, START, TZ, guards=4, seed=SEED) is None


@pytest.mark.parametrize("route_id", ROUTES)
def test_a_guard_held_up_is_late_from_that_checkpoint_on_and_still_visits_everything(
        site: SimSite, route_id: str) -> None:
    w = walk(site, LATE, route_id)
    [held_up] = w.mistake.checkpoints
    assert w.mistake.shift > next(s for s in w.route.checkpoints if s.id == held_up).tolerance
    walked = [t.checkpoint for t in w.taps]
    after = walked[walked.index(held_up):]
    assert (w.view.status, w.view.missed, w.view.coverage) == ("completed", [], 1.0)
    assert states(w.view)[held_up] == "late"
    late = [cp for cp, state in states(w.view).items() if state == "late"]
    assert set(late) <= set(after) and w.view.late == len(late) >= 1
    assert w.view.late == sum(t.late for t in w.taps)  # the walker's own count of its late taps
    end = datetime.fromisoformat(w.view.started_at or "") + w.route.limit
    assert all(t.ts <= end for t in w.taps)  # hurried to finish inside the limit


@pytest.mark.parametrize("route_id", ROUTES)
def test_two_guards_sharing_a_round_each_get_their_checkpoints(site: SimSite, route_id: str) -> None:
    w = walk(site, SHARED_ROUND, route_id)
    [handover] = w.mistake.checkpoints
    walked = [t.checkpoint for t in w.taps]
    k = walked.index(handover)
    first, second = w.taps[0].guard, w.taps[k].guard
    assert first != second
    assert [t.guard for t in w.taps] == [first] * k + [second] * (len(w.taps) - k)
    assert (w.view.status, w.view.missed, w.view.coverage) == ("completed", [], 1.0)
    by_cp = {c.id: c.guard for c in w.view.checkpoints}
    assert {cp: by_cp[cp] for cp in walked} == {t.checkpoint: t.guard for t in w.taps}
    assert w.view.guard == first  # the round is credited to who started it


@pytest.mark.parametrize("route_id", ROUTES)
def test_a_round_nobody_walks_misses_every_checkpoint(site: SimSite, route_id: str) -> None:
    w = walk(site, NOT_WALKED, route_id)
    route = w.route
    assert w.taps == []
    assert (w.view.status, w.view.missed, w.view.visited, w.view.coverage, w.view.started_at, w.view.guard) == \
        ("incomplete", ids(route), 0, 0.0, None, None)
    # Without an anchor the deadlines run from the end of the start grace.
    assert w.view.ended_at == (START + route.start_grace + route.limit).isoformat()


# -- the schedule of mistakes --------------------------------------------------------------------

@pytest.mark.parametrize("nights", [
    pytest.param([(SEED, FIRST_NIGHT + timedelta(days=i)) for i in range(7)], id="one seed, 7 days"),
    pytest.param([(seed, FIRST_NIGHT) for seed in range(1, 8)], id="7 seeds, one day"),
    pytest.param([(i + 1, FIRST_NIGHT + timedelta(days=i)) for i in range(7)], id="seed n on day n"),
])
def test_any_seven_nights_in_a_row_see_every_kind_of_mistake(site: SimSite, nights: list[tuple[int, date]]) -> None:
    assert sorted(rotated_kind(seed, day) for seed, day in nights) == sorted(KINDS)
    seen = {m.kind for seed, day in nights for m in night_mistakes(site.plan, TZ, seed, day)}
    assert seen == set(KINDS)


def test_a_night_has_two_or_three_mistakes_each_on_its_own_round_and_the_same_seed_repeats_it(
        site: SimSite) -> None:
    for seed in range(1, 21):
        night = night_mistakes(site.plan, TZ, seed, FIRST_NIGHT)
        assert 2 <= len(night) <= 3
        assert len({(m.route, m.start) for m in night}) == len(night)
        assert all(m.start.astimezone(TZ).hour in (20, 22, 0, 2, 4) for m in night)
        assert night == night_mistakes(site.plan, TZ, seed, FIRST_NIGHT)
    assert night_mistakes(site.plan, TZ, 1, FIRST_NIGHT) != night_mistakes(site.plan, TZ, 2, FIRST_NIGHT)


def test_the_same_seed_and_night_give_the_same_taps_and_truth_as_json(site: SimSite) -> None:
    begin = datetime.combine(FIRST_NIGHT, time(12), TZ)
    one = round_truths(site, SEED, begin, begin + timedelta(days=1))
    two = round_truths(site, SEED, begin, begin + timedelta(days=1))
    assert one == two and len(one) == 20
    route = site.plan.routes[0]
    start = datetime.combine(FIRST_NIGHT, time(20), TZ)
    assert walker(site).round_taps(route, start) == walker(site).round_taps(route, start)
    data = json.loads(json.dumps([t.to_dict() for t in one]))
    assert data[0]["round_id"] == "night-garage@2026-11-10T20:00+08:00"  # by start, then route
    assert {"expected", "visited", "late", "missed", "coverage", "checkpoints", "taps"} <= set(data[0])


def test_round_truths_covers_rounds_started_in_the_span_and_ended_by_its_end(site: SimSite) -> None:
    s = datetime.combine(FIRST_NIGHT, time(20), TZ)
    assert {t.round_id for t in round_truths(site, SEED, s, s + timedelta(hours=2))} == \
        {f"{r}@2026-11-10T20:00+08:00" for r in ROUTES}
    assert round_truths(site, SEED, s + timedelta(seconds=1), s + timedelta(hours=2)) == []  # none start later
    assert round_truths(site, SEED, s, s + timedelta(minutes=30)) == []  # none has ended by 20:30
    assert round_truths(site, SEED, s - timedelta(hours=2), s) == []  # nothing at 18:00


# -- twenty nights -------------------------------------------------------------------------------

def test_twenty_seeded_nights_show_every_mistake_and_the_tracker_agrees_on_every_round(site: SimSite) -> None:
    """Seed n walks the night of 2026-11-10 + (n - 1) days, as the engine does, through one tracker
    that runs the twenty nights; every round's figures and every tap's ack equal the truth's."""
    kinds: Counter[str] = Counter()
    tracker = PatrolTracker(site.plan, tz=TZ, site_id=site.site_id)
    for seed in range(1, 21):
        day = FIRST_NIGHT + timedelta(days=seed - 1)
        begin = datetime.combine(day, time(12), TZ)
        end = begin + timedelta(days=1)
        sim = Simulator(site, seed=seed)
        taps = sim.walker.due(begin, end)
        tracker, acks = track(site, taps, begin, end, tracker)
        truths = round_truths(site, seed, begin, end)
        assert len(truths) == 5 * len(site.plan.routes)
        assert acks == {k: v for t in truths for k, v in expected_acks(t).items()}
        for truth in truths:
            view = tracker.round(truth.round_id)
            assert view is not None and facts(view) == facts(truth), truth.round_id
        scripted = {(m.route, m.start.isoformat(), m.kind) for m in sim.faults.night(day).incidents}
        assert {(t.route, t.scheduled_start, t.mistake) for t in truths if t.mistake} == scripted
        assert all((t.status, t.missed, t.late) == ("completed", (), 0) for t in truths if t.mistake is None)
        kinds.update(t.mistake for t in truths if t.mistake)
    assert set(kinds) == set(KINDS)
    assert sum(kinds.values()) >= 40  # two or three a night


def test_twenty_nights_judged_the_same_when_the_handhelds_upload_every_ten_minutes(site: SimSite) -> None:
    """Handheld readers often keep their reads and upload in batches: the roof and fence taps arrive
    up to 10 min late, after later taps on fixed readers. Taps are judged on the reader's time, so
    every round must end up as the truth says all the same (the acks said what was known on arrival)."""
    handhelds = {g.reader for g in site.plan.guards}
    tracker = PatrolTracker(site.plan, tz=TZ, site_id=site.site_id)
    for seed in range(1, 21):
        day = FIRST_NIGHT + timedelta(days=seed - 1)
        begin = datetime.combine(day, time(12), TZ)
        end = begin + timedelta(days=1)

        def uploaded(tap: PlannedTap, begin: datetime = begin) -> datetime:
            if tap.reader not in handhelds:
                return tap.ts + ARRIVAL
            return begin + ((tap.ts - begin) // timedelta(minutes=10) + 1) * timedelta(minutes=10)

        taps = Simulator(site, seed=seed).walker.due(begin, end)
        tracker, _ = track(site, taps, begin, end, tracker, arrival=uploaded)
        for truth in round_truths(site, seed, begin, end):
            view = tracker.round(truth.round_id)
            assert view is not None and facts(view) == facts(truth), truth.round_id


def test_a_simulated_night_through_mosquitto_into_the_gateway_ends_as_the_truth_says(
        broker: Broker, tmp_path: Path) -> None:
    """The demo: simulator and gateway on their own site clocks at 240x over real mosquitto, the
    midnight rounds of 2026-11-24 (seed 7: night-north walked the wrong way round, an obstruction
    reported). Taps reach the gateway some site minutes after they were made, as in the demo."""
    site = load_site(demo_site_dir() / "site.yaml", Overrides(mqtt_url=broker.url, data=str(tmp_path)))
    start, end = datetime(2026, 11, 24, 23, 50, tzinfo=TZ), datetime(2026, 11, 25, 0, 55, tzinfo=TZ)
    truths = round_truths(load_sim_site(site), SEED, start, end)
    assert [t.mistake for t in truths if t.route == "night-north"] == [WRONG_ORDER]
    assert len(truths) == 4
    gw = Gateway(site, clock=SiteClock(start, 240.0))
    attach_features(gw)
    with TestClient(create_app(gw)) as api:
        assert gw.mqtt is not None and gw.mqtt.connected.wait(10)
        stop = threading.Event()
        sim = threading.Thread(target=run_simulation, kwargs={
            "site": site, "mqtt_url": broker.url, "rate": 40.0, "speed": 240.0, "start": start, "stop": stop,
            "seed": SEED})
        sim.start()
        try:
            wait_for(lambda: gw.clock.now() > end + timedelta(minutes=2), 60, "the site clock to pass 00:57")
        finally:
            stop.set()
            sim.join(10)

        def views() -> dict[str, dict[str, Any]]:
            # The contract's `date` is the calendar day: the 00:00 round of the 25th is under the 25th.
            found = api.get("/api/patrol/rounds", params={"date": "2026-11-25"}).json()
            return {r["round_id"]: r for r in found if r["round_id"] in {t.round_id for t in truths}}

        wait_for(lambda: len(views()) == 4 and all(r["status"] in ("completed", "incomplete")
                                                   for r in views().values()), 10, "the rounds to end")
        got = views()
        for truth in truths:
            assert facts(got[truth.round_id]) == facts(truth), truth.round_id
