"""Devices of unknown kind that report what would be a fault for the kind they look like: one
"register this device" warning each, never a ticket of the guessed kind.

A device that is neither in the inventory nor says what it is has kind `unknown`, so the rules
matched by kind (extinguisher pressure, fire door held open ...) never run on it in the main engine:
a pressure transmitter on a hydrant ring main reads 0.28 MPa, healthy for a hydrant and "in the red"
for the extinguisher its metrics suggest. Still, someone should register it with its real kind. So
this consumer runs the kind-matched rules, in an engine of its own, on those devices as the kind
they look like (the registry's `lookalikes`), and turns each firing into a warning under one rule
id, REGISTER_RULE: the ticket service keeps one open ticket per device for it, and counts repeats.
Rules that match no kind (smoke, tamper, device health) already run on every device in the main
engine, so an unregistered detector's smoke alarm is a smoke ticket as usual.

It is raised here rather than written as a YAML rule because no rule condition can say "would fire
for another kind"; the engine itself is used unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from gateway.core.clock import Clock
from gateway.core.model import AlertEvent, DeviceInfo, Processed
from gateway.ingest.inventory import UNKNOWN_KIND
from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.schema import Rule

REGISTER_RULE = "health.unregistered"


def kind_matched(rules: Sequence[Rule]) -> list[Rule]:
    """The rules that apply to a device because of its kind: the ones a guessed kind would wrongly trigger."""
    return [r for r in rules if r.match.kind]


def register_warning(would: AlertEvent) -> AlertEvent:
    """The warning that stands for `would`, an alert of a rule for the kind the device only looks like."""
    looks_like = would.kind
    return AlertEvent(
        rule=REGISTER_RULE, device=would.device, zone=would.zone, state="firing", severity="warning",
        title=f"未登记设备，疑似 {looks_like} Unregistered device, looks like {looks_like}: {would.device}",
        description=(
            f"{would.device} is not registered with a kind, so no rule of any kind applies to it. It looks "
            f"like a {looks_like}, and as one its value {would.value} would raise \"{would.title}\" "
            f"({would.rule}). Its kind is only a guess, so no such ticket was opened. Register it in the "
            f"inventory (device_id, kind, zone) with its real kind so the right rules apply."),
        ts=would.ts, category="device", value=would.value, kind=UNKNOWN_KIND,
        labels={"looks_like": looks_like, "would_fire": would.rule})


class UnregisteredWatch:
    name = "rules.unregistered"

    def __init__(self, rules: Sequence[Rule], *, site: SiteContext,
                 alerts: Callable[[Sequence[AlertEvent]], None],
                 lookalikes: Callable[[], dict[str, DeviceInfo]], clock: Clock,
                 lookalikes_version: Callable[[], object] = object) -> None:
        self.engine = RuleEngine(kind_matched(rules), site=site)
        self.clock = clock  # the gateway's: a site clock in replay and on an accelerated timeline
        self.alerts = alerts
        self.lookalikes = lookalikes
        # Building the lookalikes costs a copy per unregistered device: done only when the registry
        # says they changed (the default, a new object each call, means always).
        self.lookalikes_version = lookalikes_version
        self._seen_version: object = None
        self._devices: dict[str, DeviceInfo] = {}
        self._lock = threading.Lock()  # reloads come from another thread

    def _refresh_devices(self) -> None:
        # A device joins when it first looks like a kind and leaves when it gets a real one.
        version = self.lookalikes_version()
        if version == self._seen_version:
            return
        self._seen_version = version
        found = self.lookalikes()
        if found != self._devices:
            self._devices = found
            self.engine.set_devices(found)

    def handle(self, batch: Sequence[Processed]) -> None:
        out: list[AlertEvent] = []
        with self._lock:
            self._refresh_devices()
            if not self._devices:
                return
            for p in batch:
                if p.decoded.device not in self._devices:
                    continue
                now = p.msg.received_at
                for r in p.decoded.readings:
                    out.extend(self.engine.on_reading(r, now))
                if p.decoded.availability is not None:
                    out.extend(self.engine.on_availability(p.decoded.availability, now))
        self._raise(out)

    def tick(self, now: datetime) -> None:
        with self._lock:
            self._refresh_devices()
            out = self.engine.tick(now)
        self._raise(out)

    def _raise(self, events: Sequence[AlertEvent]) -> None:
        # Only firings become warnings: a cleared guess leaves the warning open until someone
        # registers the device and resolves it.
        warnings = [register_warning(ev) for ev in events if ev.state == "firing"]
        if warnings:
            self.alerts(warnings)

    def replace_rules(self, rules: Sequence[Rule]) -> None:
        with self._lock:
            self.engine.replace_rules(kind_matched(rules))

    def snapshot(self) -> Any:
        with self._lock:
            return self.engine.snapshot()

    def restore(self, state: Any) -> None:
        with self._lock:
            self.engine.restore(state, self.clock.now())
