"""Rules in the running gateway: readings and availability -> rule engine -> alerts -> tickets.

Rule state (pending `for` timers, heartbeat deadlines, counters) is the engine's snapshot, stored by
the pipeline with the journal position it reflects, so a restart mid-`for` fires on time, once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from gateway.core.model import AlertEvent, DeviceInfo, Processed
from gateway.rules.engine import RuleEngine
from gateway.rules.schema import Rule

log = logging.getLogger("sitegate.rules")


class RulesConsumer:
    name = "rules"

    def __init__(self, engine: RuleEngine, *, alerts: Callable[[Sequence[AlertEvent]], None],
                 devices: Callable[[], dict[str, DeviceInfo]]) -> None:
        self.engine = engine
        self.alerts = alerts
        self.devices = devices
        self._known: dict[str, DeviceInfo] = {}
        self._lock = threading.Lock()  # reloads come from another thread

    def _refresh_devices(self) -> None:
        # Discovery adds devices while running, and a device may say its kind after it was first heard
        # (its status before its telemetry): tell the engine every change of kind and zone.
        infos = self.devices()
        if infos != self._known:
            self._known = infos
            self.engine.set_devices(infos)

    def handle(self, batch: Sequence[Processed]) -> None:
        out: list[AlertEvent] = []
        with self._lock:
            self._refresh_devices()
            for p in batch:
                now = p.msg.received_at
                for r in p.decoded.readings:
                    out.extend(self.engine.on_reading(r, now))
                if p.decoded.availability is not None:
                    out.extend(self.engine.on_availability(p.decoded.availability, now))
        if out:
            self.alerts(out)

    def tick(self, now: datetime) -> None:
        with self._lock:
            self._refresh_devices()
            out = self.engine.tick(now)
        if out:
            self.alerts(out)

    def replace_rules(self, rules: Sequence[Rule]) -> None:
        with self._lock:
            self.engine.replace_rules(rules)

    def snapshot(self) -> Any:
        with self._lock:
            return self.engine.snapshot()

    def restore(self, state: Any) -> None:
        # The engine needs "now" to re-arm timers; restore happens at start-up.
        from datetime import UTC

        with self._lock:
            self.engine.restore(state, datetime.now(UTC))
