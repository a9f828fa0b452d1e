"""The rules engine: readings, taps, availability and time in; AlertEvents (firing / cleared) out.

Per (rule, device) a condition signal rises and falls (gateway/rules/conditions/). A rising
signal is pending; once it has held for the rule's `for` it fires, stamped with the exact time it
became due (not the time a late tick noticed), so replay and restart give the same tickets. A
falling signal clears a firing alert, or silently drops a pending one.

A rule with `per_channel` keeps one track per channel of a device: its key is the device for
channel 1 and `device#n` for channel n (a board meter's `current_a_2` is way 2), so every way of a
board rises, fires and clears on its own.

Pure: time comes only from the `now` arguments. Timers live in one heap with at most one live
entry per track (stale entries are skipped when popped), so a reading costs a dict lookup for the
rules of its (device, metric), and the heap is touched only when a deadline moves earlier.

Plain threshold rules (no `during`, not per channel) keep a track only while their condition holds
or their alert fires: a healthy device has none, and a reading finds the rules it newly makes hold
in a ThresholdIndex (gateway/rules/index.py) instead of testing each. With a thousand such rules on
one metric a healthy reading costs a binary search, and 100,000 healthy devices hold no tracks.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from gateway.core import circuits
from gateway.core.model import AlertEvent, Availability, DeviceInfo, LiveCondition, Reading, Value
from gateway.devices.vocabulary import split_channel
from gateway.rules.conditions import make_evaluator
from gateway.rules.conditions.base import ANY_METRIC, Evaluator, Track
from gateway.rules.conditions.threshold import ThresholdEval
from gateway.rules.index import ThresholdIndex
from gateway.rules.schema import Rule, render

SNAPSHOT_VERSION = 1
_STEP = timedelta(seconds=1)

@dataclass(frozen=True)
class SiteContext:
    """Where and when the site is: its time zone, its sky, and each kind's heartbeat."""

    tz: str | tzinfo = "UTC"
    latitude: float = 0.0
    longitude: float = 0.0
    heartbeat: Mapping[str, timedelta] = field(default_factory=dict)  # kind (or "default") -> period

    @property
    def tzinfo(self) -> tzinfo:
        return ZoneInfo(self.tz) if isinstance(self.tz, str) else self.tz

    def heartbeat_of(self, kind: str) -> timedelta | None:
        return self.heartbeat.get(kind) or self.heartbeat.get("default")


class _Compiled:
    """One rule ready to run, with the tracks of the devices it has seen."""

    def __init__(self, rule: Rule, ev: Evaluator, order: int) -> None:
        self.rule = rule
        self.ev = ev
        self.order = order  # position in the rule files: rules run on a reading in this order
        # A plain threshold rule: its track exists only while it holds or fires (see the module doc).
        self.indexed = isinstance(ev, ThresholdEval) and not rule.per_channel and ANY_METRIC not in ev.metrics
        self.for_ = rule.for_
        # Asked first at each reading, when the evaluator can tell a reading that moves nothing.
        self.settled_reading = (ev.settled_reading if type(ev).settled_reading is not Evaluator.settled_reading
                                else None)
        self.timed = type(ev).deadline is not Evaluator.deadline  # time alone can move its signal
        self.per_channel = rule.per_channel
        self.tracks: dict[str, Track] = {}
        self.schedule_due: datetime | None = None
        self.threshold = rule.condition.shown_threshold()  # what {threshold} shows
        self.labels = rule.labels.as_dict()

    def matches(self, info: DeviceInfo) -> bool:
        return self.rule.watches(info.id, info.kind, info.zone)


class RuleEngine:
    def __init__(self, rules: Sequence[Rule], *, site: SiteContext) -> None:
        self._site = site
        self._tz = site.tzinfo
        self._devices: dict[str, DeviceInfo] = {}
        self._latest: dict[str, dict[str, Value]] = {}  # device -> metric -> value (state rules)
        self._circuits: frozenset[str] | None = None  # every circuit of the register, when asked for
        self._heap: list[tuple[datetime, str, str, int]] = []  # (due, rule key, device or "", seq)
        self._seq = 0
        self._now: datetime | None = None
        self._unbaselined: set[str] = set()
        self._rules: dict[str, _Compiled] = {}
        self._touched: set[str] = set()  # devices whose live conditions may have changed (live_changes)
        self._held: dict[str, set[_Compiled]] = {}  # track key -> indexed rules with a track for it
        self._install(rules)

    # -- rules and devices ------------------------------------------------------------------

    def _install(self, rules: Sequence[Rule]) -> list[tuple[str, str]]:
        old = self._rules
        self._touched |= self._holding()
        self._rules = {}
        unwatched = []
        for order, rule in enumerate(rules):
            cr = _Compiled(rule, make_evaluator(rule, self._tz, self._site.latitude, self._site.longitude), order)
            previous = old.pop(rule.key, None)
            if previous is not None:
                same = previous.rule.condition.type == rule.condition.type
                for device, t in previous.tracks.items():
                    if not cr.matches(self._info(device)):
                        if t.firing:
                            unwatched.append((rule.id, device))
                    elif same or t.firing:
                        cr.tracks[device] = t if same else _carried(t)
            self._rules[rule.key] = cr
        unwatched += [(gone.rule.id, d) for gone in old.values() for d, t in gone.tracks.items() if t.firing]
        self._by_metric: dict[str, list[_Compiled]] = {}
        self._by_channel_metric: dict[str, list[_Compiled]] = {}  # per-channel rules, for channels 2, 3 ...
        self._on_availability: list[_Compiled] = []
        self._on_tap: list[_Compiled] = []
        self._latest_metrics: set[str] = set()
        self._channel_latest: set[str] = set()  # metrics per-channel state rules read on every channel
        for cr in self._rules.values():
            for metric in cr.ev.metrics:
                self._by_metric.setdefault(metric, []).append(cr)
                if cr.rule.per_channel:
                    self._by_channel_metric.setdefault(metric, []).append(cr)
            if cr.rule.per_channel and cr.ev.uses_latest:
                self._channel_latest |= cr.ev.metrics
            if cr.ev.availability:
                self._on_availability.append(cr)
            if cr.ev.taps:
                self._on_tap.append(cr)
            if cr.ev.uses_latest:
                self._latest_metrics |= cr.ev.metrics
        self._forget_matches()
        self._unbaselined = set(self._devices)
        self._reschedule_all()
        self._index_live()
        self._touched |= self._holding()
        return sorted(unwatched)

    def _forget_matches(self) -> None:
        self._heartbeats: dict[str, timedelta | None] = {}  # track key -> its kind's heartbeat
        # metric -> (its first channel's name, its channel, whether state rules keep its latest value)
        self._shapes: dict[str, tuple[str, int, bool]] = {}
        self._reading_cache: dict[tuple[str, str], _ReadingRules] = {}
        self._shared_rules: dict[tuple[tuple[_Compiled, ...], ...], _ReadingRules] = {}  # see _reading_rules
        self._availability_cache: dict[str, tuple[_Compiled, ...]] = {}
        self._tap_cache: dict[str, tuple[_Compiled, ...]] = {}

    def replace_rules(self, rules: Sequence[Rule]) -> list[tuple[str, str]]:
        """Live reload. A rule whose id is unchanged keeps its alerts, and its state too when its
        condition type is unchanged. Returns the (rule, device) alerts that were firing and are no
        longer watched (the rule was removed, or no longer matches the device): they are not
        cleared, because nobody saw the fault end.
        """
        return self._install(rules)

    def set_devices(self, devices: Mapping[str, DeviceInfo]) -> list[tuple[str, str]]:
        """What the devices are (kind, zone, owner...), effective at once for every device that changed.

        A rule a device no longer matches stops watching it; the timers of the rules it still matches
        move to what it is now (a kind's heartbeat); a device never heard is watched for silence from
        the next input or tick. Returns the (rule, device) alerts that were firing and are
        no longer watched: they are not cleared, because nobody saw the fault end.
        """
        old, self._devices = self._devices, dict(devices)
        changed = {d for d in old.keys() | self._devices.keys() if old.get(d) != self._devices.get(d)}
        if not changed:
            return []
        self._forget_matches()
        self._circuits = None
        self._unbaselined |= changed & self._devices.keys()
        dropped = self._recheck(changed)
        self._index_live()
        return dropped

    def _recheck(self, devices: set[str]) -> list[tuple[str, str]]:
        dropped = []
        for cr in self._rules.values():
            for key in [k for k in cr.tracks if _split(k)[0] in devices]:
                t = cr.tracks[key]
                if cr.matches(self._info(key)):
                    self._schedule(cr, key, t)
                    continue
                del cr.tracks[key]
                if t.active or t.firing:
                    self._touched.add(_split(key)[0])
                if t.firing:
                    dropped.append((cr.rule.id, key))
        return sorted(dropped)

    def _info(self, key: str) -> DeviceInfo:
        """What the device of a track key (a device, or one channel of it) is."""
        device = _split(key)[0]
        return self._devices.get(device) or DeviceInfo(device)

    def _latest_of(self, key: str) -> Mapping[str, Value]:
        """The latest values a state rule sees for a track key: for channel n of a device, its
        `metric_n` values under the first channel's names, so one rule reads every channel alike."""
        device, channel = _split(key)
        latest = self._latest.get(device, {})
        if channel == 1:
            return latest
        return {m: latest[f"{m}_{channel}"] for m in self._channel_latest if f"{m}_{channel}" in latest}

    def _heartbeat(self, cr: _Compiled, device: str) -> timedelta | None:
        if not cr.ev.needs_heartbeat:
            return None
        # Asked at every reading a silence rule sees; the answer changes only with the device's kind.
        if device not in self._heartbeats:
            self._heartbeats[device] = self._site.heartbeat_of(self._info(device).kind)
        return self._heartbeats[device]

    # -- inputs -----------------------------------------------------------------------------

    def _see(self, now: datetime) -> list[AlertEvent]:
        """Move the engine's clock to `now`: baseline new devices, then run every timer due."""
        if now.tzinfo is None:
            raise ValueError("RuleEngine needs timezone-aware times.")
        if self._now is None:
            self._now = now
            self._schedule_rules()
        elif now > self._now:
            self._now = now
        if self._unbaselined:
            self._baseline(now)
        if self._heap and self._heap[0][0] <= now:
            return self._advance(now)
        return []

    def on_reading(self, r: Reading, now: datetime) -> list[AlertEvent]:
        return self.on_readings((r,), now)

    def on_readings(self, readings: Sequence[Reading], now: datetime) -> list[AlertEvent]:
        """One message's readings, in order, as `on_reading` of each would judge them; in one call,
        with the clock looked at only when a timer may be due (a call and a timer check per reading
        were a tenth of the rules consumer's time on the demo site's night)."""
        events: list[AlertEvent] = []
        shapes, latest_of_device, cache, held = self._shapes, self._latest, self._reading_cache, self._held
        for r in readings:
            if (now.tzinfo is None or self._now is None or now > self._now or self._unbaselined
                    or (self._heap and self._heap[0][0] <= now)):  # else _see(now) would do nothing
                events += self._see(now)
            device, metric, value = r.device, r.metric, r.value
            shape = shapes.get(metric)
            if shape is None:
                base, channel = split_channel(metric)
                shape = shapes[metric] = (base, channel, metric in self._latest_metrics
                                          or (channel > 1 and base in self._channel_latest))
            base, channel, keep = shape
            latest = latest_of_device.get(device)
            if keep:
                if latest is None:
                    latest = latest_of_device[device] = {}
                latest[metric] = value
            rules = cache.get((device, metric))
            if rules is None:
                rules = cache[(device, metric)] = self._reading_rules(device, metric, base, channel)
            run: Sequence[_Compiled] = rules.every
            if rules.index is not None:
                # The indexed rules to run: those this value makes hold, and those already holding or
                # firing for the device (they may clear). The rest stay as they are: not holding.
                extra = set(rules.index.holding(value))
                if live := held.get(device):
                    extra |= live & rules.indexed
                if extra:
                    run = (*sorted((*rules.head, *extra), key=_order), *rules.tail)
            for cr in run:
                key = _key(device, channel) if cr.per_channel else device
                t = cr.tracks.get(key)
                if t is None:
                    if not cr.ev.traffic_starts_track:
                        continue
                    t = cr.tracks[key] = Track()
                    if cr.indexed:
                        held.setdefault(key, set()).add(cr)
                elif cr.settled_reading is not None and cr.settled_reading(t, metric, value, now):
                    # health.silent and health.offline ran in full for each of a Tasmota SENSOR
                    # message's 5 readings: 70% of the demo site's rule runs (bench/README.md).
                    continue
                was = t.active
                cr.ev.reading(t, metric, value, now, self._latest_of(key) if key != device else latest or {})
                self._settle(cr, key, t, was, now, events)
                if cr.indexed and not (t.active or t.firing):
                    self._drop_indexed(cr, key)
        return events

    def _reading_rules(self, device: str, metric: str, base: str, channel: int) -> _ReadingRules:
        """The rules a reading of `metric` from `device` concerns, in the order they run."""
        info = self._info(device)
        own = [c for c in self._by_metric.get(metric, []) if c.matches(info)]
        tail = self._by_metric.get(ANY_METRIC, []) + (self._by_channel_metric.get(base, []) if channel > 1 else [])
        indexed = tuple(c for c in own if c.indexed)
        head, tail_ = tuple(c for c in own if not c.indexed), tuple(c for c in tail if c.matches(info))
        # Devices alike get equal answers: one shared copy (and index), not one per (device, metric)
        # (~400 bytes each, ~100 MiB at 100,000 devices).
        shared = (head, tail_, indexed)
        found = self._shared_rules.get(shared)
        if found is None:
            index = ThresholdIndex((c, c.ev.condition) for c in indexed
                                   if isinstance(c.ev, ThresholdEval)) if indexed else None
            found = self._shared_rules[shared] = _ReadingRules(head, tail_, index, frozenset(indexed))
        return found

    def _drop_indexed(self, cr: _Compiled, key: str) -> None:
        """An indexed rule's track that neither holds nor fires carries nothing: forget it."""
        del cr.tracks[key]
        live = self._held.get(key)
        if live is not None:
            live.discard(cr)
            if not live:
                del self._held[key]

    def _index_live(self) -> None:
        """Which indexed rules hold or fire per track key, rebuilt after the tracks were replaced."""
        self._held = {}
        for cr in self._rules.values():
            if cr.indexed:
                for key in cr.tracks:
                    self._held.setdefault(key, set()).add(cr)

    def on_availability(self, a: Availability, now: datetime) -> list[AlertEvent]:
        events = self._see(now)
        rules = self._availability_cache.get(a.device)
        if rules is None:
            info = self._info(a.device)
            rules = self._availability_cache[a.device] = tuple(c for c in self._on_availability if c.matches(info))
        for cr in rules:
            t = cr.tracks.get(a.device)
            if t is None:
                t = cr.tracks[a.device] = Track()
            was = t.active
            cr.ev.on_availability(t, a.online, now)
            self._settle(cr, a.device, t, was, now, events)
        return events

    def on_tap(self, device: str, now: datetime) -> list[AlertEvent]:
        """The device (a checkpoint reader) read a tag: for the rules, a sign of life."""
        events = self._see(now)
        rules = self._tap_cache.get(device)
        if rules is None:
            info = self._info(device)
            rules = self._tap_cache[device] = tuple(c for c in self._on_tap if c.matches(info))
        for cr in rules:
            t = cr.tracks.get(device)
            if t is None:
                if not cr.ev.traffic_starts_track:
                    continue
                t = cr.tracks[device] = Track()
            was = t.active
            cr.ev.on_tap(t, now)
            self._settle(cr, device, t, was, now, events)
        return events

    def tick(self, now: datetime) -> list[AlertEvent]:
        """Run timers due at or before `now`: for-durations, heartbeats, schedules, windows."""
        return self._see(now)

    def next_deadline(self) -> datetime | None:
        """When tick next has something to do (None: nothing until the next input)."""
        while self._heap:
            due, rule_id, device, _ = self._heap[0]
            if self._live(due, rule_id, device):
                return due
            heapq.heappop(self._heap)
        return None

    # -- the state machine ------------------------------------------------------------------

    def _settle(self, cr: _Compiled, device: str, t: Track, was: bool, at: datetime,
                events: list[AlertEvent]) -> None:
        if not (was or t.active or t.firing):
            if cr.timed:  # nothing holds or is pending: only the evaluator's own timer can be due
                self._schedule(cr, device, t)
            return
        self._touched.add(_split(device)[0])  # a condition that holds, held, or whose figures moved
        if t.active:
            if not was or t.since is None:
                t.since = at
            if not t.firing and at >= t.since + cr.for_:
                t.firing = True
                t.fired_at = t.since + cr.for_
                events.append(self._event(cr, device, t, "firing", t.fired_at))
        else:  # it held or fired, and no longer holds
            if t.firing:
                events.append(self._event(cr, device, t, "cleared", at))
            t.firing, t.since, t.fired_at = False, None, None
        self._schedule(cr, device, t)

    def _schedule(self, cr: _Compiled, device: str, t: Track) -> None:
        due = cr.ev.deadline(t, self._heartbeat(cr, device))
        if t.active and not t.firing and t.since is not None:
            pending = t.since + cr.for_
            due = pending if due is None else min(due, pending)
        # Only an earlier deadline needs a new heap entry: a later one is found when the old fires.
        if due is not None and (t.timer_due is None or due < t.timer_due):
            t.timer_due = due
            self._push(due, cr.rule.key, device)

    def _push(self, due: datetime, rule_id: str, device: str) -> None:
        # Timers due at the same instant run in (rule, device) order, whatever order they were
        # armed in, so a replay or a restart produces the same events in the same order.
        self._seq += 1
        heapq.heappush(self._heap, (due, rule_id, device, self._seq))

    def _live(self, due: datetime, rule_id: str, device: str) -> bool:
        cr = self._rules.get(rule_id)
        if cr is None:
            return False
        if not device:
            return cr.schedule_due == due
        t = cr.tracks.get(device)
        return t is not None and t.timer_due == due

    def _advance(self, now: datetime) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        while self._heap and self._heap[0][0] <= now:
            due, rule_id, device, _ = heapq.heappop(self._heap)
            if not self._live(due, rule_id, device):
                continue
            cr = self._rules[rule_id]
            if not device:  # a schedule boundary (dusk, dawn, hours): every device of the rule
                for dev, t in list(cr.tracks.items()):
                    self._run_timer(cr, dev, t, due, events)
                if cr.ev.schedule is not None:
                    cr.schedule_due = cr.ev.schedule.next_change(due)
                    self._push(cr.schedule_due, rule_id, "")
                continue
            t = cr.tracks[device]
            t.timer_due = None
            self._run_timer(cr, device, t, due, events)
        return events

    def _run_timer(self, cr: _Compiled, device: str, t: Track, at: datetime, events: list[AlertEvent]) -> None:
        was = t.active
        cr.ev.at(t, at, self._latest_of(device), self._heartbeat(cr, device))
        self._settle(cr, device, t, was, at, events)
        if t.timer_due is not None and t.timer_due <= at:
            # A timer must move time forward; re-arming at the same instant would spin forever.
            t.timer_due = at + _STEP
            self._push(t.timer_due, cr.rule.key, device)

    def _schedule_rules(self) -> None:
        if self._now is None:
            return
        for cr in self._rules.values():
            if cr.ev.schedule is not None:
                cr.schedule_due = cr.ev.schedule.next_change(self._now)
                self._push(cr.schedule_due, cr.rule.key, "")

    def _reschedule_all(self) -> None:
        self._heap = []
        for cr in self._rules.values():
            for device, t in cr.tracks.items():
                t.timer_due = None
                self._schedule(cr, device, t)
        self._schedule_rules()

    def _baseline(self, now: datetime) -> None:
        """Devices known from the inventory but never heard: silence counts from now."""
        watchers = [cr for cr in self._rules.values() if cr.ev.needs_heartbeat]
        for device in sorted(self._unbaselined):
            info = self._info(device)
            for cr in watchers:
                if device not in cr.tracks and cr.matches(info):
                    t = cr.tracks[device] = Track(last_seen=now)
                    self._schedule(cr, device, t)
        self._unbaselined.clear()

    def _event(self, cr: _Compiled, key: str, t: Track, state: str, ts: datetime) -> AlertEvent:
        device, channel = _split(key)
        info = self._info(device)
        rule = cr.rule
        labels = self._labels(cr, info, channel)
        fields: dict[str, Any] = {
            **rule.params, "rule": rule.id, "device": device, "zone": info.zone, "kind": info.kind,
            "metric": t.metric or rule.metric, "value": t.value,
            "threshold": cr.threshold if cr.threshold is not None else self._heartbeat(cr, device),
            "severity": rule.labels.severity, "location": info.location or "", "for": rule.for_,
            "last_seen": t.last_seen.astimezone(self._tz).strftime("%Y-%m-%d %H:%M") if t.last_seen else None,
            "circuit": labels.get("circuit"), "channel": channel if rule.per_channel else None,
        }
        return AlertEvent(
            rule=rule.id, device=device, zone=info.zone, state=state, severity=rule.labels.severity,
            title=render(rule.annotations.title, fields), ts=ts,
            description=render(rule.annotations.description, fields), category=rule.labels.category,
            value=t.value, kind=info.kind, auto_resolve=rule.auto_resolve, labels=labels,
        )

    def _labels(self, cr: _Compiled, info: DeviceInfo, channel: int) -> dict[str, str]:
        # The inventory's owner and circuit travel with the alert: tickets are assigned by owner, and
        # a circuit outage inhibits the lamp faults of the same circuit. An alert about one channel
        # of a board meter is about the way that channel measures, and says so (AlertEvent.subject).
        labels = dict(cr.labels)
        if info.owner:
            labels.setdefault("owner", info.owner)
        circuit = info.circuit
        if cr.rule.per_channel:
            labels["channel"] = str(channel)
            if circuit:
                if self._circuits is None:
                    self._circuits = frozenset(d.circuit for d in self._devices.values() if d.circuit)
                circuit = circuits.channel_circuit(circuit, channel, self._circuits)
        if circuit:
            labels.setdefault("circuit", circuit)
        return labels

    # -- what holds now ---------------------------------------------------------------------

    def rules(self) -> list[Rule]:
        """The rules now loaded (after the latest reload), in file order."""
        return [cr.rule for cr in self._rules.values()]

    def conditions(self, device: str) -> tuple[LiveCondition, ...]:
        """The conditions that hold for `device` now, firing or pending, in rule order, each with the
        values behind it: what makes the device unhealthy, whether or not a ticket is open."""
        out = []
        for rule_key in sorted(self._rules):
            cr = self._rules[rule_key]
            # A per-channel rule holds for the device on each of its channels (way 2 of a board).
            keys = sorted(k for k in cr.tracks if _split(k)[0] == device) if cr.rule.per_channel else [device]
            for key in keys:
                t = cr.tracks.get(key)
                if t is None or not (t.active or t.firing):
                    continue
                # A firing alert held outside its window (dawn is not a repair) may have no figure to show.
                reason = cr.ev.explain(t, self._latest_of(key), self._heartbeat(cr, device)) or "not seen to clear yet"
                if (channel := _split(key)[1]) > 1:
                    reason += f" (channel {channel})"  # a state rule explains in the first channel's names
                info = self._info(device)
                title = render(cr.rule.annotations.title, {
                    **cr.rule.params, "rule": cr.rule.id, "device": device, "zone": info.zone, "kind": info.kind,
                    "location": info.location or "", "metric": t.metric or cr.rule.metric, "value": t.value,
                    "severity": cr.rule.labels.severity})
                out.append(LiveCondition(rule=cr.rule.id, severity=cr.rule.labels.severity, firing=t.firing,
                                         reason=reason, since=t.since, metric=t.metric, contact=cr.ev.contact,
                                         title=title))
        return tuple(out)

    def live_changes(self) -> dict[str, tuple[LiveCondition, ...]]:
        """The conditions of every device whose conditions may have changed since the last call (an
        empty tuple: nothing holds for it any more). Devices that stay healthy are never listed."""
        touched, self._touched = self._touched, set()
        return {device: self.conditions(device) for device in sorted(touched)}

    def _holding(self) -> set[str]:
        return {_split(k)[0] for cr in self._rules.values() for k, t in cr.tracks.items() if t.active or t.firing}

    # -- persistence ------------------------------------------------------------------------

    def firing(self) -> list[tuple[str, str]]:
        """(rule, device) of every alert firing now."""
        return sorted((cr.rule.id, d) for cr in self._rules.values() for d, t in cr.tracks.items() if t.firing)

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state: signals, pending timers, last-seen, windows, the firing set."""
        # A field at its default is left out (restore reads it back as the default): most tracks are a
        # device watched for silence, and 13 keys each made the snapshot of 100,000 devices (~250,000
        # tracks, built whole) ~1 KB a track, ~250 MiB at a time, before its JSON.
        tracks = []
        for rule_id, cr in self._rules.items():
            kind = cr.rule.condition.type
            for device, t in cr.tracks.items():
                item: dict[str, Any] = {"rule": rule_id, "device": device, "type": kind}
                if t.active:
                    item["active"] = True
                if t.firing:
                    item["firing"] = True
                # None is the default of the rest (a value or `last` of False is kept: it is no default).
                for name, value in (("since", _iso(t.since)), ("fired_at", _iso(t.fired_at)), ("value", t.value),
                                    ("metric", t.metric), ("last", t.last), ("last_seen", _iso(t.last_seen))):
                    if value is not None:
                        item[name] = value
                if t.events:
                    item["events"] = [e.isoformat() for e in t.events]
                if t.samples:
                    item["samples"] = [list(s) for s in t.samples]
                tracks.append(item)
        return {"version": SNAPSHOT_VERSION, "now": _iso(self._now), "tracks": tracks,
                "latest": {d: dict(m) for d, m in self._latest.items()}}

    def restore(self, state: dict[str, Any], now: datetime) -> list[tuple[str, str]]:
        """Take back a snapshot after a restart; timers due meanwhile run at the next tick, once.

        Give the devices first (set_devices): a device that changed while the gateway was down is
        checked against the rules as set_devices does. The tracks of devices not given yet wait for
        set_devices to say what those devices are. Returns the (rule, device) alerts that were
        firing and are no longer watched (see set_devices), a removed rule's among them.
        """
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"rule state version {state.get('version')!r} is not {SNAPSHOT_VERSION}; "
                             "delete the saved rule state to start fresh")
        self._touched |= self._holding()  # what held before the snapshot is taken back
        for compiled in self._rules.values():
            compiled.tracks = {}
        removed = []
        for item in state.get("tracks", []):
            cr = self._rules.get(item["rule"])
            if cr is None:  # the rule was removed while we were down
                if item.get("firing", False):
                    removed.append((item["rule"], item["device"]))
                continue
            # A field left out is at its default (snapshot); older snapshots have every field.
            t = Track(active=item.get("active", False), since=_dt(item.get("since")),
                      firing=item.get("firing", False), fired_at=_dt(item.get("fired_at")),
                      value=item.get("value"), metric=item.get("metric"), last=item.get("last"),
                      last_seen=_dt(item.get("last_seen")),
                      events=deque(d for e in item.get("events", ()) if (d := _dt(e)) is not None) or None,
                      samples=deque((float(x), float(y)) for x, y in item.get("samples", ())) or None)
            if item.get("type") != cr.rule.condition.type:  # the rule was edited while we were down
                if not t.firing:
                    continue
                t = _carried(t)
            cr.tracks[item["device"]] = t
            cr.ev.restored(t, now)
        self._latest = {d: dict(m) for d, m in state.get("latest", {}).items()}
        saved_now = _dt(state.get("now"))
        self._now = max(now, saved_now) if saved_now else now
        self._unbaselined = set(self._devices)
        self._forget_matches()
        unwatched = removed + self._recheck(set(self._devices))
        self._reschedule_all()
        self._index_live()
        self._touched |= self._holding()
        return sorted(unwatched)


class _ReadingRules:
    """The rules a reading of one (device, metric) concerns: `head`, the rules of that metric run
    one by one, and `index` over the `indexed` ones, all in file order; then `tail` (rules of every
    metric, and per-channel rules on channel 2, 3 ...)."""

    __slots__ = ("every", "head", "index", "indexed", "tail")

    def __init__(self, head: tuple[_Compiled, ...], tail: tuple[_Compiled, ...],
                 index: ThresholdIndex[_Compiled] | None, indexed: frozenset[_Compiled]) -> None:
        self.head, self.tail, self.index, self.indexed = head, tail, index, indexed
        self.every = head + tail  # what runs when no indexed rule does (most readings)


def _order(cr: _Compiled) -> int:
    return cr.order


def _key(device: str, channel: int) -> str:
    """A per-channel rule's track key: device ids are MQTT topic levels, so they never hold '#'."""
    return device if channel == 1 else f"{device}#{channel}"


def _split(key: str) -> tuple[str, int]:
    device, _, channel = key.partition("#")
    return device, int(channel) if channel.isdigit() else 1


def _carried(t: Track) -> Track:
    """The track of a firing alert whose rule changed its condition type: the new condition starts
    afresh, and the alert stays firing until that condition is evaluated false."""
    return Track(firing=True, fired_at=t.fired_at, value=t.value, metric=t.metric)


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d is not None else None


def _dt(s: str | None) -> datetime | None:
    if s is None:
        return None
    d = datetime.fromisoformat(s)
    return d if d.tzinfo is not None else d.replace(tzinfo=UTC)
