"""Rules in the running gateway: readings, taps and availability -> rule engine -> alerts -> tickets.

Rule state (pending `for` timers, heartbeat deadlines, counters) is the engine's snapshot, stored by
the pipeline with the journal position it reflects, so a restart mid-`for` fires on time, once.

After every batch, tick, reload and restore, the conditions that hold for the devices whose
conditions changed are published (`conditions`, the gateway's publish_conditions port): a device's
health comes from them, whether or not a ticket is open or muted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from gateway.core.clock import Clock
from gateway.core.model import AlertEvent, DeviceInfo, LiveCondition, Processed
from gateway.rules.engine import RuleEngine
from gateway.rules.schema import Rule

log = logging.getLogger("sitegate.rules")


class DeviceDirectory(Protocol):
    """What the rules need of the device registry (gateway/ingest/registry.py)."""

    @property
    def info_version(self) -> int: ...

    def infos(self) -> dict[str, DeviceInfo]: ...


class RulesConsumer:
    name = "rules"

    def __init__(self, engine: RuleEngine, *, alerts: Callable[[Sequence[AlertEvent]], None],
                 devices: DeviceDirectory, clock: Clock,
                 conditions: Callable[[Mapping[str, Sequence[LiveCondition]]], None] = lambda _c: None) -> None:
        self.engine = engine
        self.alerts = alerts
        self.devices = devices
        self.clock = clock
        self.conditions = conditions
        self._version: int | None = None
        self._lock = threading.Lock()  # reloads come from another thread

    def _refresh_devices(self) -> None:
        # Every change of what a device is (discovered, a kind learned from its traffic, an inventory
        # edited across a restart) reaches the rules before the messages that follow it.
        version = self.devices.info_version
        if version != self._version:
            self._version = version
            _unwatched(self.engine.set_devices(self.devices.infos()), "the device no longer matches the rule")

    def handle(self, batch: Sequence[Processed]) -> None:
        out: list[AlertEvent] = []
        with self._lock:
            self._refresh_devices()
            for p in batch:
                now = p.msg.received_at
                if p.decoded.readings:
                    out.extend(self.engine.on_readings(p.decoded.readings, now))
                for reader in {tap.device for tap in p.decoded.taps}:
                    out.extend(self.engine.on_tap(reader, now))
                if p.decoded.availability is not None:
                    out.extend(self.engine.on_availability(p.decoded.availability, now))
            live = self.engine.live_changes()
        self._publish(live)
        if out:
            self.alerts(out)

    def tick(self, now: datetime) -> None:
        with self._lock:
            self._refresh_devices()
            out = self.engine.tick(now)
            live = self.engine.live_changes()
        self._publish(live)
        if out:
            self.alerts(out)

    def replace_rules(self, rules: Sequence[Rule]) -> None:
        with self._lock:
            _unwatched(self.engine.replace_rules(rules), "the rule was removed or no longer matches the device")
            live = self.engine.live_changes()
        self._publish(live)

    def rules(self) -> list[Rule]:
        """The rules loaded now (a reload replaces them from another thread)."""
        with self._lock:
            return self.engine.rules()

    def _publish(self, live: Mapping[str, Sequence[LiveCondition]]) -> None:
        # Outside the lock, like the alerts: the port is another layer's (the registry's).
        if live:
            self.conditions(live)

    def snapshot(self) -> Any:
        with self._lock:
            return self.engine.snapshot()

    def restore(self, state: Any) -> None:
        # At start-up, on the gateway's clock; what the devices are first, then the state about them.
        with self._lock:
            self._refresh_devices()
            _unwatched(self.engine.restore(state, self.clock.now()),
                       "the rule or the device changed while the gateway was down")
            live = self.engine.live_changes()
        self._publish(live)


def _unwatched(alerts: Sequence[tuple[str, str]], why: str) -> None:
    for rule, device in alerts:
        log.warning("%s on %s was firing and is no longer watched (%s); its ticket stays open until a "
                    "person resolves it", rule, device, why)
