"""The device registry: what every device said last, whether it is online, and how healthy it is.

Updated only by the pipeline thread; read by the HTTP API from other threads, hence the lock.
Changed devices are marked dirty and written in the same transaction as the journal batch that
changed them, so the registry survives a restart exactly in step with the journal.

Health (gateway/ingest/health.py) comes from what the device says and from the conditions the rules
publish for it (set_conditions); those are not saved here: the rules' own snapshot restores them.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from gateway.core.model import Availability, Decoded, DeviceInfo, LiveCondition, Value
from gateway.devices.vocabulary import label
from gateway.ingest.health import Health, assess
from gateway.ingest.inventory import UNKNOWN_KIND

# What a device nobody registered looks like, from the first metric that gives it away. Only ever a
# suggestion, shown as "unregistered, looks like X": a device's kind comes from the inventory or from
# what the device says (its profile, its model), because rules open tickets by kind and a guess can
# be wrong (a pressure transmitter on a hydrant ring main is not an extinguisher).
# Order matters: a smoke detector also reports battery and tamper.
KIND_HINTS: tuple[tuple[str, str], ...] = (
    ("smoke", "smoke_detector"),
    ("door_open", "fire_door"),
    ("pressure_mpa", "extinguisher"),
    ("illuminance_lux", "lux_sensor"),
    ("current_a_2", "power_meter"),
    ("power_on", "lamp"),
    ("current_a", "lamp"),
)

# Pressure transmitters look alike; the name installers give a hydrant or sprinkler one says which.
PRESSURE_KIND_BY_NAME: tuple[tuple[str, str], ...] = (("hydrant", "hydrant"), ("sprinkler", "sprinkler"))


@dataclass(slots=True)
class MetricValue:
    value: Value
    unit: str | None
    ts: datetime


@dataclass(slots=True)
class DeviceState:
    info: DeviceInfo
    discovered: bool = False  # not in the inventory: an unregistered device
    # Where info.kind came from: "inventory", "device" (its profile, model or payload said so), or
    # None while the kind is unknown; then `suggested_kind` is what the device looks like.
    kind_source: str | None = "inventory"
    suggested_kind: str | None = None
    model: str | None = None
    online: bool | None = None
    online_source: str = "unknown"  # availability | traffic | silence
    last_seen: datetime | None = None
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    messages: int = 0

    def to_json(self) -> dict[str, Any]:
        """The stored form, for orjson: it writes the DeviceInfo dataclass as an object of its fields
        and each datetime as its isoformat() text itself, faster than building them here (a device's
        row is written at every batch it sends in; ~6% of the pipeline thread at 100,000 devices)."""
        return {
            "info": self.info,
            "discovered": self.discovered,
            "kind_source": self.kind_source,
            "suggested_kind": self.suggested_kind,
            "model": self.model,
            "online": self.online,
            "online_source": self.online_source,
            "last_seen": self.last_seen,
            "metrics": {k: (m.value, m.unit, m.ts) for k, m in self.metrics.items()},
            "messages": self.messages,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceState:
        info = DeviceInfo(**data["info"])
        discovered = bool(data["discovered"])
        if "kind_source" in data:
            source, suggested = data["kind_source"], data["suggested_kind"]
        elif discovered:  # saved before kinds were only believed: a discovered device's kind was a guess
            source, suggested = None, (info.kind if info.kind != UNKNOWN_KIND else None)
            info = replace(info, kind=UNKNOWN_KIND)
        else:
            source, suggested = ("inventory" if info.kind != UNKNOWN_KIND else None), None
        return cls(
            info=info,
            discovered=discovered,
            kind_source=source,
            suggested_kind=suggested,
            model=data.get("model"),
            online=data["online"],
            online_source=str(data["online_source"]),
            last_seen=datetime.fromisoformat(data["last_seen"]) if data["last_seen"] else None,
            metrics={k: MetricValue(v[0], v[1], datetime.fromisoformat(v[2]))
                     for k, v in data["metrics"].items()},
            messages=int(data["messages"]),
        )


def guess_kind(device: str, metrics: Mapping[str, object]) -> str | None:
    """What a device of unknown kind looks like: a suggestion for whoever registers it, never its kind."""
    for metric, kind in KIND_HINTS:
        if metric in metrics:
            if kind == "extinguisher":
                name = device.lower()
                return next((k for word, k in PRESSURE_KIND_BY_NAME if word in name), kind)
            return kind
    return None


def shows_life(state: DeviceState, decoded: Decoded) -> bool:
    """Whether this message shows the device alive when it arrived: a reading, a tap or an online
    status, or an offline status that ends an online one (it was alive until it said it was gone).
    An offline status alone, often the broker's will for a device long gone, shows nothing. The rules'
    `absent` condition means the same (gateway/rules/conditions/absent.py)."""
    avail = decoded.availability
    if decoded.readings or decoded.taps or (avail is not None and avail.online):
        return True
    return avail is not None and state.online is True and state.online_source == "availability"


OpenTickets = Callable[[str], Mapping[str, int]]  # device id -> {severity: count}

HEALTH_SLICE = 2_000  # devices assessed per hold of the lock in Registry.healths


class DeviceHealth(NamedTuple):
    """A device's health without the rest of its view (Registry.healths)."""

    info: DeviceInfo
    online: bool | None
    health: Health


class DeviceLimitReached(Exception):
    """Discovery refused a new device: the configured bound on distinct devices is reached."""


class Registry:
    def __init__(self, inventory: Mapping[str, DeviceInfo], *, heartbeat: Mapping[str, timedelta],
                 max_devices: int = 10_000, default_heartbeat: timedelta = timedelta(hours=1)) -> None:
        self._lock = threading.Lock()
        self._devices: dict[str, DeviceState] = {
            dev_id: DeviceState(info=info, kind_source="inventory" if info.kind != UNKNOWN_KIND else None)
            for dev_id, info in inventory.items()}
        self._inventory = dict(inventory)
        self._heartbeat = dict(heartbeat)
        self._default_heartbeat = default_heartbeat
        self.max_devices = max(max_devices, len(inventory))  # the inventory is always let in
        self._dirty: set[str] = set()
        self._info_version = 0
        self._conditions: dict[str, tuple[LiveCondition, ...]] = {}  # device -> what holds for it now
        # Kept up to date as devices change, so that neither question scans every device: the
        # unregistered watch asks for the lookalikes on every batch, and sweep runs on every tick.
        # Devices of unknown kind that look like one -> their info with that kind filled in, kept as
        # they change so that lookalikes() is a copy, not a new DeviceInfo per device at every batch.
        self._lookalikes: dict[str, DeviceInfo] = {}
        self._lookalike_version = 0
        # No device online by its traffic alone can have gone silent before this (None: look now).
        self._sweep_due: datetime | None = None
        # Shown beside health, never part of it; set by the tickets feature.
        self.open_tickets: OpenTickets = lambda _device: {}

    # -- writes (pipeline thread) -------------------------------------------------------------
    def _device(self, dev_id: str, profile: str | None) -> DeviceState:
        state = self._devices.get(dev_id)
        if state is None:
            if len(self._devices) >= self.max_devices:
                raise DeviceLimitReached(
                    f"device limit of {self.max_devices} reached; raise ingest.max_devices or add "
                    f"'{dev_id}' to the inventory")
            state = DeviceState(info=DeviceInfo(id=dev_id, profile=profile), discovered=True, kind_source=None)
            self._devices[dev_id] = state
        elif state.info.profile is None and profile is not None:
            state.info = replace(state.info, profile=profile)
        return state

    def apply(self, decoded: Decoded, received_at: datetime) -> list[dict[str, Any]]:
        """Fold one decoded message in; returns device change events (online/offline, discovered)."""
        if decoded.device is None:
            return []
        events: list[dict[str, Any]] = []
        with self._lock:
            known = decoded.device in self._devices
            info_before = self._devices[decoded.device].info if known else None
            state = self._device(decoded.device, decoded.profile)
            if not known:
                events.append({"device": decoded.device, "change": "discovered"})
            state.messages += 1
            if shows_life(state, decoded) and (state.last_seen is None or received_at > state.last_seen):
                state.last_seen = received_at
            for r in decoded.readings:
                current = state.metrics.get(r.metric)
                # Buffered or reordered messages must not overwrite a newer value.
                if current is None or r.ts >= current.ts:
                    state.metrics[r.metric] = MetricValue(r.value, r.unit, r.ts)
            self._identify(state, decoded)
            events.extend(self._set_online(state, decoded.availability, received_at,
                                           traffic=bool(decoded.readings or decoded.taps)))
            self._note(state)
            self._dirty.add(decoded.device)
            if state.info is not info_before and state.info != info_before:  # most keep the same object
                self._info_version += 1
        return events

    def _note(self, state: DeviceState) -> None:
        """Keep the lookalike set and the sweep's next deadline in step with a device that changed."""
        dev_id = state.info.id
        if _looks_like(state):
            assert state.suggested_kind is not None  # _looks_like
            looks = replace(state.info, kind=state.suggested_kind)
            if self._lookalikes.get(dev_id) != looks:
                self._lookalikes[dev_id] = looks
                self._lookalike_version += 1
        elif self._lookalikes.pop(dev_id, None) is not None:
            self._lookalike_version += 1
        if _lapses(state) and self._sweep_due is not None:
            assert state.last_seen is not None  # _lapses
            self._sweep_due = min(self._sweep_due, state.last_seen + self.heartbeat(state.info.kind))

    @staticmethod
    def _identify(state: DeviceState, decoded: Decoded) -> None:
        """Believe what the device says it is; otherwise only suggest what it looks like."""
        if decoded.model is not None:
            state.model = decoded.model
        if state.kind_source == "inventory":
            return  # the asset register has the last word
        if decoded.kind is not None:
            state.info = replace(state.info, kind=decoded.kind)
            state.kind_source, state.suggested_kind = "device", None
        elif state.info.kind == UNKNOWN_KIND:
            guess = guess_kind(state.info.id, state.metrics) or ("checkpoint_reader" if decoded.taps else None)
            if guess is not None:
                state.suggested_kind = guess

    def _set_online(self, state: DeviceState, avail: Availability | None, ts: datetime,
                    *, traffic: bool) -> list[dict[str, Any]]:
        before = state.online
        if avail is not None:
            state.online, state.online_source = avail.online, "availability"
        elif traffic and state.online is not True:
            # A device that sends data is alive, whatever it said before.
            state.online, state.online_source = True, "traffic"
        if state.online != before and state.online is not None:
            return [{"device": state.info.id, "change": "online" if state.online else "offline",
                     "source": state.online_source, "ts": ts.isoformat()}]
        return []

    def sweep(self, now: datetime) -> list[dict[str, Any]]:
        """Mark devices online by their traffic alone and silent past their kind's heartbeat as offline."""
        events: list[dict[str, Any]] = []
        with self._lock:
            if self._sweep_due is not None and now <= self._sweep_due:
                return events  # nobody's heartbeat can have run out yet
            due: datetime | None = None
            for state in self._devices.values():
                # Only an online guessed from traffic lapses: an online status holds until it says offline.
                if not _lapses(state):
                    continue
                assert state.last_seen is not None  # _lapses
                deadline = state.last_seen + self.heartbeat(state.info.kind)
                if now > deadline:
                    state.online, state.online_source = False, "silence"
                    self._dirty.add(state.info.id)
                    events.append({"device": state.info.id, "change": "offline", "source": "silence",
                                   "ts": now.isoformat()})
                elif due is None or deadline < due:
                    due = deadline
            # With nobody left to lapse, only a device that comes online by traffic (apply) sets it.
            self._sweep_due = due if due is not None else datetime.max.replace(tzinfo=UTC)
        return events

    def set_conditions(self, updates: Mapping[str, Sequence[LiveCondition]]) -> None:
        """The rules' word on what holds for these devices now (an empty sequence: nothing does)."""
        with self._lock:
            for device, conditions in updates.items():
                if conditions:
                    self._conditions[device] = tuple(conditions)
                else:
                    self._conditions.pop(device, None)

    def heartbeat(self, kind: str) -> timedelta:
        return self._heartbeat.get(kind, self._default_heartbeat)

    # -- persistence ----------------------------------------------------------------------------
    def dirty_rows(self) -> list[tuple[str, str]]:
        """(id, JSON) of devices changed since the last call, for the batch transaction."""
        with self._lock:
            rows = [(dev_id, orjson.dumps(self._devices[dev_id].to_json()).decode())
                    for dev_id in self._dirty]
            self._dirty.clear()
        return rows

    def load(self, db: sqlite3.Connection) -> int:
        """Restore saved state; the inventory (which may have changed) wins for kind/zone/owner."""
        count = 0
        with self._lock:
            for dev_id, raw in db.execute("SELECT id, state FROM devices"):
                state = DeviceState.from_json(orjson.loads(raw))
                _reconcile(state, self._inventory.get(dev_id))
                self._devices[dev_id] = state
                self._note(state)
                count += 1
            self._sweep_due = None
            self._info_version += 1
        return count

    # -- reads (any thread) ---------------------------------------------------------------------
    # A view asks the tickets feature for open counts: copy the state under the lock and build the
    # view after releasing it, so the pipeline thread never waits for the tickets database.
    def view(self, dev_id: str, now: datetime) -> dict[str, Any] | None:
        with self._lock:
            state = self._devices.get(dev_id)
            copy = None if state is None else (_copy(state), self._conditions.get(dev_id, ()))
        return None if copy is None else self._view(*copy, now)

    def views(self, now: datetime) -> list[dict[str, Any]]:
        with self._lock:
            copies = [(_copy(s), self._conditions.get(s.info.id, ()))
                      for s in sorted(self._devices.values(), key=lambda s: s.info.id)]
        return [self._view(s, conditions, now) for s, conditions in copies]

    def healths(self, now: datetime) -> list[DeviceHealth]:
        """Every device's info, online state and health at `now`, in id order, without its API view.

        For the minutely `equipment_health` points: a view of every device at once held ~3 KB a
        device (its dicts of metrics, units and labels, copies of its state), ~300 MiB at 100,000
        devices every site minute, for three numbers each. The lock is taken per slice of devices,
        so an HTTP reader never waits for all of them."""
        with self._lock:
            ids = sorted(self._devices)
        found: list[DeviceHealth] = []
        # Bound once, not looked up per device (heartbeat() by hand): this runs for every device
        # every site minute, on the pipeline thread.
        devices, conditions, beats, default = self._devices, self._conditions, self._heartbeat, self._default_heartbeat
        for start in range(0, len(ids), HEALTH_SLICE):
            with self._lock:
                for dev_id in ids[start:start + HEALTH_SLICE]:
                    s = devices.get(dev_id)
                    if s is not None:
                        info = s.info
                        health = assess(s, now, beats.get(info.kind, default), conditions.get(dev_id, ()))
                        found.append(DeviceHealth(info, s.online, health))
        return found

    @property
    def info_version(self) -> int:
        """Changes whenever a device is added or its DeviceInfo (kind, zone, owner...) changes."""
        return self._info_version

    def infos(self) -> dict[str, DeviceInfo]:
        with self._lock:
            return {k: s.info for k, s in self._devices.items()}

    @property
    def lookalikes_version(self) -> int:
        """Changes whenever lookalikes() answers differently."""
        return self._lookalike_version

    def lookalikes(self) -> dict[str, DeviceInfo]:
        """Devices of unknown kind that look like a kind, with that kind filled in: for telling someone
        to register them when they report what would be a fault for it (gateway/rules/unregistered.py)."""
        with self._lock:
            return {k: self._lookalikes[k] for k in sorted(self._lookalikes)}

    def info(self, dev_id: str) -> DeviceInfo:
        with self._lock:
            state = self._devices.get(dev_id)
            return state.info if state else DeviceInfo(id=dev_id)

    def states(self) -> list[DeviceState]:
        with self._lock:
            return list(self._devices.values())

    def __len__(self) -> int:
        return len(self._devices)

    def _view(self, s: DeviceState, conditions: Sequence[LiveCondition], now: datetime) -> dict[str, Any]:
        health = assess(s, now, self.heartbeat(s.info.kind), conditions)
        return {
            "id": s.info.id,
            "kind": s.info.kind,
            "zone": s.info.zone,
            "profile": s.info.profile,
            "location": s.info.location,
            "owner": s.info.owner,
            "discovered": s.discovered,
            "registered": not s.discovered,
            "kind_source": s.kind_source,
            "suggested_kind": s.suggested_kind,
            "model": s.model,
            "online": s.online,
            "online_source": s.online_source,
            "last_seen": s.last_seen.isoformat() if s.last_seen else None,
            "metrics": {k: m.value for k, m in sorted(s.metrics.items())},
            "units": {k: m.unit for k, m in sorted(s.metrics.items()) if m.unit},
            # Both languages' names for every metric, channels and pass-through names included.
            "labels": {k: dict(_label(k)) for k in sorted(s.metrics)},
            "messages": s.messages,
            "health": health.score,
            "health_band": health.band,
            "health_reasons": list(health.reasons),
            "health_causes": list(health.causes),
            "open_tickets": dict(self.open_tickets(s.info.id)),
        }


@functools.lru_cache(maxsize=4096)
def _label(metric: str) -> dict[str, str | None]:
    found = label(metric)
    return {"en": found.en, "zh": found.zh, "unit": found.unit}


def _looks_like(state: DeviceState) -> bool:
    """Of unknown kind, and looks like one (Registry.lookalikes)."""
    return state.info.kind == UNKNOWN_KIND and state.suggested_kind is not None


def _lapses(state: DeviceState) -> bool:
    """Online by its traffic alone, so it goes offline when silent past its heartbeat (Registry.sweep)."""
    return state.online is True and state.online_source == "traffic" and state.last_seen is not None


def _copy(state: DeviceState) -> DeviceState:
    """A copy the pipeline thread cannot change underneath a reader (metric values are replaced, not mutated)."""
    return replace(state, metrics=dict(state.metrics))


def _reconcile(state: DeviceState, registered: DeviceInfo | None) -> None:
    """A saved device under today's inventory, which may have changed: the inventory decides kind, zone
    and owner; a kind the device said holds where the inventory has none; a kind that only came from an
    inventory row that is gone is only a suggestion now."""
    said = state.kind_source == "device"
    if registered is None:
        if not state.discovered:  # taken out of the inventory: unregistered again
            kind = state.info.kind
            state.info = DeviceInfo(id=state.info.id, kind=kind if said else UNKNOWN_KIND, profile=state.info.profile)
            state.discovered = True
            if not said:
                state.kind_source = None
                state.suggested_kind = kind if kind != UNKNOWN_KIND else state.suggested_kind
        return
    state.discovered = False
    if registered.kind == UNKNOWN_KIND and said:
        state.info = replace(registered, kind=state.info.kind, profile=state.info.profile)
        return
    state.info = replace(registered, profile=state.info.profile)
    if registered.kind != UNKNOWN_KIND:
        state.kind_source, state.suggested_kind = "inventory", None
    else:
        state.kind_source = None


def utcnow() -> datetime:
    return datetime.now(UTC)
