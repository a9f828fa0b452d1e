"""The device simulator: its traffic decodes with the built-in profiles, its faults produce the
readings the rules watch for, its guards walk rounds (with the night's mistakes) that the patrol
tracker judges as the simulator's ground truth says, its clock runs fast, and the engine really
publishes to a broker.

Most tests share one simulated night of the demo site (2026-11-24 16:00 to 11-25 10:00, one step
per site minute), decoded once by the real Decoder.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.app.simulator import SimSite, Simulator, SiteClock, load_sim_site, run, run_simulation
from gateway.app.simulator.conventions import Message
from gateway.app.simulator.faults import LEAK_MPA_PER_HOUR, Fault
from gateway.app.simulator.patrol import PatrolWalker, PlannedTap
from gateway.app.simulator.truth import RoundTruth, round_truths
from gateway.core.model import Decoded, RawMessage, Tap
from gateway.core.paths import demo_site_dir, devices_dir
from gateway.core.siteload import Overrides, load_site
from gateway.devices.decoder import Decoder
from gateway.devices.loader import load_profiles
from gateway.patrol.rounds import RoundView
from gateway.patrol.tracker import PatrolTracker
from tests.support.mosquitto import Broker

TZ = ZoneInfo("Asia/Shanghai")
NIGHT = date(2026, 11, 24)
BEGIN = datetime(2026, 11, 24, 16, 0, tzinfo=TZ)
END = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
STEP = timedelta(minutes=1)


@dataclass
class Night:
    site: SimSite
    sim: Simulator
    start: list[tuple[Message, Decoded]]
    later: list[tuple[Message, Decoded]]
    taps: list[PlannedTap]

    @property
    def all(self) -> list[tuple[Message, Decoded]]:
        return self.start + self.later

    def fault(self, kind: str) -> Fault:
        return next(f for f in self.sim.faults.night(NIGHT).faults if f.kind == kind)

    def readings(self, device: str, metric: str) -> list[tuple[datetime, object]]:
        return [(m.ts, r.value) for m, d in self.later for r in d.readings if r.device == device
                and r.metric == metric]

    def availability(self, device: str) -> list[tuple[datetime, bool]]:
        return [(m.ts, d.availability.online) for m, d in self.later
                if d.availability is not None and d.device == device]


@pytest.fixture(scope="module")
def night() -> Night:
    site = load_sim_site(load_site(demo_site_dir() / "site.yaml"))
    decoder = Decoder(load_profiles([devices_dir()]), site_id=site.site_id, tz=TZ)
    sim = Simulator(site, seed=7)

    def decode(messages: list[Message]) -> list[tuple[Message, Decoded]]:
        # Arrival a second after the device sent it, on the same (site) clock.
        return [(m, decoder.decode(RawMessage(m.topic, m.payload, m.ts + timedelta(seconds=1))))
                for m in messages]

    start = decode(sim.start(BEGIN))
    later: list[tuple[Message, Decoded]] = []
    taps: list[PlannedTap] = []
    # Enough baseline to visit every device about every 10 site minutes.
    per_step = len(site.devices) // 8
    now = BEGIN
    while now < END:
        now += STEP
        changes, tapped = sim.step(now)
        taps += tapped
        later += decode(changes + sim.baseline(now, per_step))
    return Night(site, sim, start, later, taps)


# -- decoding ------------------------------------------------------------------------------------

def test_every_simulated_message_decodes_without_rejection(night: Night) -> None:
    bad = [(m.topic, m.payload, d.rejections) for m, d in night.all if d.rejections or d.ignored]
    assert not bad[:5]
    assert all(d.device == m.device for m, d in night.all), "the decoded device id is the simulated one"
    assert all(d.readings or d.availability or d.taps for _, d in night.all)


def test_every_profile_and_kind_is_exercised(night: Night) -> None:
    profiles = {d.profile for _, d in night.all}
    assert profiles == {"zigbee2mqtt", "tasmota", "shelly_gen2", "sitegate_native"}
    kinds = {night.site.device(m.device).kind for m, _ in night.all}
    assert kinds == {"lamp", "lux_sensor", "power_meter", "extinguisher", "hydrant", "sprinkler",
                     "smoke_detector", "fire_door", "checkpoint_reader", "handheld_reader"}


@pytest.mark.parametrize(("kind", "expected"), [
    ("lamp", {"power_on", "current_a", "power_w", "voltage_v", "energy_kwh"}),
    ("lux_sensor", {"illuminance_lux"}),
    ("power_meter", {"current_a", "power_w", "voltage_v", "energy_kwh"}),
    ("extinguisher", {"pressure_mpa", "battery_pct", "signal"}),
    ("hydrant", {"pressure_mpa"}),
    ("sprinkler", {"pressure_mpa"}),
    ("smoke_detector", {"smoke", "battery_pct", "battery_low", "tamper", "voltage_v", "signal"}),
    ("fire_door", {"door_open", "battery_pct", "voltage_v", "signal"}),
    ("handheld_reader", {"battery_pct", "signal"}),
])
def test_each_kind_reports_its_canonical_metrics(night: Night, kind: str, expected: set[str]) -> None:
    for device in night.site.of_kind(kind):
        metrics = {r.metric for m, d in night.all if m.device == device.id for r in d.readings}
        assert expected <= metrics, f"{device.id} ({device.convention}) lacks {expected - metrics}"


def test_a_panel_meter_reports_one_channel_per_way_of_its_board(night: Night) -> None:
    meter = next(d for d in night.site.of_kind("power_meter") if d.circuit == "AL5")
    ways = {lamp.circuit for lamp in night.site.of_kind("lamp") if (lamp.circuit or "").startswith("AL5-")}
    metrics = {r.metric for m, d in night.all if m.device == meter.id for r in d.readings}
    assert len(ways) == 4
    assert {"current_a", "current_a_2", "current_a_3", "current_a_4", "power_w_4"} <= metrics
    assert "current_a_5" not in metrics


def test_every_device_announces_itself_online_and_retained_at_start(night: Night) -> None:
    announced = {d.device: (m.retain, d.availability.online) for m, d in night.start if d.availability}
    assert set(announced) == {d.id for d in night.site.devices}
    assert set(announced.values()) == {(True, True)}


def test_tasmota_time_is_site_local_and_native_ts_carries_the_offset(night: Night) -> None:
    tasmota = next(m for m, _ in night.later if m.topic.startswith("tele/") and m.topic.endswith("/SENSOR"))
    assert tasmota.ts.astimezone(TZ).strftime("%Y-%m-%dT%H:%M:%S").encode() in tasmota.payload
    native = next(m for m, _ in night.later if m.topic.endswith("/telemetry"))
    assert b"+08:00" in native.payload
    decoded = next(d for m, d in night.later if m is native)
    assert decoded.readings[0].ts == native.ts.replace(microsecond=0)


# -- faults --------------------------------------------------------------------------------------

def test_lamps_that_fail_at_dusk_stay_on_without_current(night: Night) -> None:
    dead = {next(iter(f.devices)) for f in night.sim.faults.night(NIGHT).faults if f.kind == "lamp_dead"}
    assert len(dead) == 2
    evening = datetime(2026, 11, 24, 19, 0, tzinfo=TZ)
    later = evening + timedelta(hours=2)
    for lamp in dead:
        on = [v for t, v in night.readings(lamp, "power_on") if evening <= t < later]
        amps = [v for t, v in night.readings(lamp, "current_a") if evening <= t < later]
        assert on and all(v is True for v in on)
        assert amps and all(isinstance(v, float) and v < 0.01 for v in amps)
    healthy = next(d.id for d in night.site.of_kind("lamp") if d.id not in dead and d.zone == "plaza")
    amps = [v for t, v in night.readings(healthy, "current_a") if evening <= t < evening + timedelta(hours=2)]
    assert amps and all(isinstance(v, float) and v > 0.1 for v in amps)


def test_lamps_switch_on_at_dusk_with_a_relay_report(night: Night) -> None:
    dusk = night.sim.sky.lamps_on_at(NIGHT)
    switched = [(m.ts, m.device) for m, d in night.later if m.topic.startswith("stat/")
                and any(r.metric == "power_on" and r.value is True for r in d.readings)]
    first = min(t for t, _ in switched)
    assert dusk <= first <= dusk + STEP
    photocell_tasmota = {d.id for d in night.site.of_kind("lamp") if d.convention == "tasmota"}
    assert photocell_tasmota <= {dev for t, dev in switched if t <= dusk + STEP}


def test_extinguisher_leak_falls_005_mpa_per_hour_and_crosses_1_mpa(night: Night) -> None:
    leak = night.fault("extinguisher_leak")
    ext = next(iter(leak.devices))
    points = [(t, float(v)) for t, v in night.readings(ext, "pressure_mpa")  # type: ignore[arg-type]
              if leak.start <= t < leak.end]
    assert points[0][1] >= 1.0 > points[-1][1]
    crossing = next(t for t, v in points if v < 1.0)
    assert crossing < datetime(2026, 11, 25, 2, 0, tzinfo=TZ), "the leak trips its rule during the night"
    # Least-squares slope over the part above the floor.
    above = [(t, v) for t, v in points if v > 0.45]
    hours = [(t - leak.start).total_seconds() / 3600 for t, _ in above]
    values = [v for _, v in above]
    mean_h, mean_v = sum(hours) / len(hours), sum(values) / len(values)
    slope = sum((h - mean_h) * (v - mean_v) for h, v in zip(hours, values, strict=True)) / sum(
        (h - mean_h) ** 2 for h in hours)
    assert slope == pytest.approx(-LEAK_MPA_PER_HOUR, rel=0.1)
    other = next(d.id for d in night.site.of_kind("extinguisher") if d.id != ext)
    assert all(1.1 < float(v) < 1.4 for _, v in night.readings(other, "pressure_mpa"))  # type: ignore[arg-type]


def test_dying_detector_reports_low_battery_then_goes_silent_then_offline(night: Night) -> None:
    fault = night.fault("battery_dies")
    det = next(iter(fault.devices))
    assert fault.silent_from is not None and fault.offline_from is not None
    low = [t for t, v in night.readings(det, "battery_low") if v is True]
    assert low and fault.start <= min(low) <= fault.start + STEP and max(low) < fault.silent_from
    said = [m.ts for m, _ in night.later if m.device == det]
    assert not [t for t in said if fault.silent_from + STEP < t < fault.offline_from]
    assert night.availability(det)[0] == (night.availability(det)[0][0], False)
    assert fault.offline_from <= night.availability(det)[0][0] <= fault.offline_from + STEP
    assert night.availability(det)[-1][1] is True  # a new battery in the morning


def test_propped_fire_door_stays_open_for_more_than_ten_minutes(night: Night) -> None:
    fault = night.fault("door_propped")
    door = next(iter(fault.devices))
    states = [(t, v) for t, v in night.readings(door, "door_open")
              if fault.start - STEP <= t <= fault.end + STEP]
    opened = next(t for t, v in states if v is True)
    closed = next(t for t, v in states if v is False and t > opened)
    assert all(v is True for t, v in states if opened <= t < closed)
    assert closed - opened > timedelta(minutes=10)
    assert opened <= fault.start + STEP


def test_power_outage_drops_a_whole_circuit_at_once_and_its_meter_channel_to_zero(night: Night) -> None:
    fault = night.fault("zone_outage")
    assert fault.circuit is not None and len(fault.devices) >= 3
    went = [night.availability(lamp) for lamp in fault.devices]
    offline_at = {next(t for t, online in seen if not online) for seen in went}
    assert len(offline_at) == 1 and fault.start <= offline_at.pop() <= fault.start + STEP
    assert all(seen[-1][1] is True for seen in went), "the circuit comes back"
    board, way = fault.circuit.split("-WL")
    meter = next(d.id for d in night.site.of_kind("power_meter") if d.circuit == board)
    channel = "current_a" if way == "1" else f"current_a_{way}"
    during = [v for t, v in night.readings(meter, channel) if fault.start + STEP < t < fault.end]
    earlier = fault.start - timedelta(hours=2)
    before = [v for t, v in night.readings(meter, channel) if earlier < t < fault.start]
    assert during and all(v == 0 for v in during)
    assert before and all(isinstance(v, float) and v > 0.1 for v in before)


def test_one_smoke_alarm_a_night(night: Night) -> None:
    alarms = [(m.device, m.ts) for m, d in night.later for r in d.readings if r.metric == "smoke" and r.value]
    assert {dev for dev, _ in alarms} == set(night.fault("smoke_alarm").devices)
    assert max(t for _, t in alarms) - min(t for _, t in alarms) < timedelta(minutes=5)


# -- patrol --------------------------------------------------------------------------------------

def figures(r: RoundView | RoundTruth) -> tuple[object, ...]:
    return r.status, r.expected, r.visited, list(r.missed), r.late, r.coverage


def test_guards_rounds_through_the_decoder_get_their_true_figures_from_the_tracker(night: Night) -> None:
    tracker = PatrolTracker(night.site.plan, tz=TZ, site_id=night.site.site_id)
    tracker.tick(BEGIN)
    results: Counter[str] = Counter()
    observations = []
    for _, d in night.later:
        for tap in d.taps:
            outcome = tracker.on_tap(tap, tap.received_at)
            results[outcome.result] += 1
            observations += [a.rule for a in outcome.alerts]
    tracker.tick(END)
    rounds = [r for day in (NIGHT, NIGHT + timedelta(days=1)) for r in tracker.rounds(day)
              if r.status != "scheduled"]
    assert len(rounds) == 5 * len(night.site.plan.routes)  # 20:00, 22:00, 00:00, 02:00, 04:00
    truths = {t.round_id: t for t in round_truths(night.site, 7, BEGIN, END)}
    assert sorted(truths) == sorted(r.round_id for r in rounds)
    for r in rounds:
        truth = truths[r.round_id]
        assert figures(r) == figures(truth), r.round_id
        # The readers' times went through MQTT to the second, as the walker made them.
        assert (r.started_at, r.ended_at, r.guard) == (truth.started_at, truth.ended_at, truth.guard)
        assert [(c.state, c.tapped_at) for c in r.checkpoints] == [(c.state, c.tapped_at) for c in truth.checkpoints]
        if truths[r.round_id].mistake is None:  # walked as planned
            assert (r.status, r.missed, r.late) == ("completed", [], 0), r.round_id
    # Tonight: a middle checkpoint skipped on two rounds, two checkpoints the wrong way round on one.
    assert sorted(t.mistake or "" for t in truths.values() if t.mistake) == \
        ["skipped_middle", "skipped_middle", "wrong_order"]
    assert results == Counter(tap.result for t in truths.values() for tap in t.taps)
    assert set(results) == {"ok", "out_of_order"}
    assert "patrol.observation.lamp_out" in observations
    assert "patrol.observation.obstruction" in observations


def test_guards_tap_ordered_routes_in_order_with_card_on_readers_and_handheld_on_tags(night: Night) -> None:
    plan = night.site.plan
    guards = {g.id: g for g in plan.guards}
    rounds: dict[tuple[str, datetime], list[PlannedTap]] = defaultdict(list)
    for tap in night.taps:
        if tap.event is None:
            rounds[(tap.route, tap.round_start)].append(tap)
    mistakes = {(m.route, m.start): m for m in night.sim.faults.night(NIGHT).incidents}
    assert len(rounds) == 5 * len(plan.routes) - sum(m.kind == "not_walked" for m in mistakes.values())
    for (route_id, start), taps in rounds.items():
        route = plan.route(route_id)
        expected = [c.id for c in route.checkpoints]
        mistake = mistakes.get((route_id, start))
        if mistake is not None and mistake.kind in ("missed_first", "skipped_middle"):
            expected.remove(mistake.checkpoints[0])
        if mistake is not None and mistake.kind == "wrong_order":  # the later one first, then back
            later, earlier = mistake.checkpoints
            i = expected.index(earlier)
            expected[i:i + 2] = [later, earlier]
        visited = [t.checkpoint for t in taps]
        if route.ordered:
            assert visited == expected
        else:
            assert sorted(visited) == sorted(expected)
        for tap in taps:
            cp, guard = plan.checkpoint(tap.checkpoint), guards[tap.guard]
            assert (tap.reader, tap.tag) == ((cp.reader, guard.card) if cp.reader else (guard.reader, cp.tag))


def test_the_demos_first_night_sends_every_planned_tap_and_every_round_gets_its_true_figures() -> None:
    """The demo's first evening (site clock from 19:30), stepped as the engine does, in steps that
    do not land on round starts (the engine's are 3 site seconds at the demo's speed)."""
    site = load_sim_site(load_site(demo_site_dir() / "site.yaml"))
    walker = Simulator(site, seed=7).walker
    begin, end = datetime(2026, 11, 18, 19, 30, tzinfo=TZ), datetime(2026, 11, 19, 6, 0, tzinfo=TZ)
    starts = [datetime(2026, 11, 18, 20, 0, tzinfo=TZ) + timedelta(hours=2 * i) for i in range(5)]
    planned = {(r.id, s): [t for t in walker.round_taps(r, s) if t.event is None]
               for r in site.plan.routes for s in starts}
    # The guards set off within 90 s of the start and tap within a minute of plan: on this night two
    # north rounds' gate taps come before the scheduled start, inside the gate's 5 min tolerance.
    early = [s for (r, s), taps in planned.items() if r == "night-north" and taps[0].ts < s]
    assert len(early) >= 2 and all(planned[("night-north", s)][0].ts >= s - timedelta(minutes=5) for s in early)

    tracker = PatrolTracker(site.plan, tz=TZ, site_id=site.site_id)
    tracker.tick(begin)
    sent: list[PlannedTap] = []
    now, step = begin, timedelta(seconds=47)
    while now < end:
        taps = walker.due(now, now + step)
        now += step
        for t in taps:
            sent.append(t)
            tracker.on_tap(Tap(device=t.reader, tag=t.tag, ts=t.ts, received_at=t.ts + timedelta(seconds=1)),
                           t.ts + timedelta(seconds=1))
        tracker.tick(now)
    every = [t for r in site.plan.routes for s in starts for t in walker.round_taps(r, s)]
    assert [t for t in every if t not in sent] == []  # every planned tap was sent, once
    assert len(sent) == len(every)

    views = {r.round_id: r for d in (begin.date(), end.date()) for r in tracker.rounds(d)}
    truths = round_truths(site, 7, begin, end)
    assert len(truths) == len(planned)
    for truth in truths:
        view = views[truth.round_id]
        assert figures(view) == figures(truth), view.round_id
        assert (view.started_at, view.ended_at, view.guard) == (truth.started_at, truth.ended_at, truth.guard)
    # Tonight's mistakes, by hand: the wrong way round costs the checkpoint gone back to; the guard
    # held up from the B5 lobby is late there and after it but finishes inside the limit.
    by_id = {t.round_id: t for t in truths}
    swapped = by_id["night-south@2026-11-18T20:00+08:00"]
    assert (swapped.mistake, swapped.missed, swapped.late) == ("wrong_order", ("cp-b4-roof",), 0)
    skipped = by_id["night-north@2026-11-19T02:00+08:00"]
    assert (skipped.mistake, skipped.missed, skipped.visited) == ("skipped_middle", ("cp-b2-roof",), 7)
    held_up = by_id["night-south@2026-11-19T02:00+08:00"]
    assert (held_up.mistake, held_up.status, held_up.missed) == ("late", "completed", ())
    assert held_up.late >= 2 and sum(t.late for t in planned[("night-south", starts[3])]) == held_up.late
    assert [c.state for c in held_up.checkpoints][:3] == ["visited"] * 3  # before the B5 lobby: on time


def test_the_same_seed_walks_the_same_night_and_another_seed_does_not(night: Night) -> None:
    route = night.site.plan.routes[0]
    start = datetime(2026, 11, 24, 20, 0, tzinfo=TZ)
    again = Simulator(night.site, seed=7)
    other = Simulator(night.site, seed=8)
    assert again.walker.round_taps(route, start) == night.sim.walker.round_taps(route, start)
    assert again.faults.night(NIGHT) == night.sim.faults.night(NIGHT)
    assert other.walker.round_taps(route, start) != night.sim.walker.round_taps(route, start)
    assert isinstance(again.walker, PatrolWalker)


# -- clock and engine ----------------------------------------------------------------------------

def test_on_a_shared_timeline_it_waits_for_the_anchor_and_stops_at_until(night: Night) -> None:
    # 20:55 to 21:15 at 1200x: one real second, starting a third of a second from now.
    begin, until = datetime(2026, 11, 18, 20, 55, tzinfo=TZ), datetime(2026, 11, 18, 21, 15, tzinfo=TZ)
    clock = SiteClock(begin, 1200, real_start=time.time() + 0.3, until=until)
    sent: list[tuple[float, Message]] = []

    def publish(message: Message) -> bool:
        sent.append((time.time(), message))
        return True

    stats = run(night.site, publish, rate=50, clock=clock, seed=7)
    assert sent and min(t for t, _ in sent) >= clock.real_start  # nothing before the anchor
    assert stats.site_start is not None and stats.site_start >= begin
    assert stats.site_end == until
    assert max(m.ts for _, m in sent) <= until
    # The door propped open at 21:10 (in the night's script) started on the way, and is logged.
    assert any("propped open" in f for f in stats.faults) and any("(under way)" in f for f in stats.faults)


def test_baseline_follows_each_devices_report_period(night: Night) -> None:
    sim = Simulator(night.site, seed=3)
    sim.start(BEGIN)
    per_minute = round(sim.demand(speed=1.0) * 60)  # exactly what the devices' own periods need
    reports: Counter[str] = Counter()
    for minute in range(1, 61):
        for m in sim.baseline(BEGIN + minute * STEP, per_minute):
            if "/STATE" not in m.topic:  # a Tasmota lamp's report is STATE + SENSOR: count it once
                reports[m.device] += 1
    assert set(reports) == {d.id for d in night.site.devices}, "every device reported within the hour"
    lamp = night.site.of_kind("lamp")[0].id  # every 5 minutes
    detector = night.site.of_kind("smoke_detector")[0].id  # every hour
    assert reports[lamp] in range(10, 14)
    assert reports[detector] == 1


def test_engine_publishes_everything_to_a_real_broker(broker: Broker) -> None:
    received: list[str] = []
    subscribed = threading.Event()
    lock = threading.Condition()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-counter")
    client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            received.append(msg.topic)
            lock.notify_all()

    client.on_message = on_message
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(5)
        site = load_site(demo_site_dir() / "site.yaml", Overrides(mqtt_url=broker.url))
        # 19:58 at 600x: 3 real seconds cover the first 28 minutes of the 20:00 rounds.
        stats = run_simulation(site, mqtt_url=broker.url, rate=200, speed=600, duration=3.0,
                               start=datetime(2026, 11, 24, 19, 58, tzinfo=TZ), seed=7)
        with lock:
            assert lock.wait_for(lambda: len(received) >= stats.published, timeout=10)
        assert stats.failed == 0
        assert len(received) == stats.published
        assert stats.baseline >= 200 * 3 * 0.9
        assert stats.changes >= len(load_sim_site(site).devices)  # everyone announced itself
        assert stats.taps > 10
        assert stats.site_end is not None and stats.site_end - datetime(2026, 11, 24, 19, 58, tzinfo=TZ) \
            >= timedelta(minutes=29)
        assert sum(1 for t in received if t.endswith("/tap")) == stats.taps
    finally:
        client.loop_stop()
        client.disconnect()
