"""Where events come from in the running gateway.

- Ticket changes and patrol round ends arrive on the live event bus (a listener, called in the thread
  that concluded them, right after the ticket store's commit) and go to the outbox at once.
- Device state is compared on the pipeline's tick with what head office was last told (kept in the
  outbox), so an online/offline change and a health band crossing healthy/unhealthy are both caught,
  including those that happened while the gateway was down.
- The gateway's health goes out every `health_interval` of site time.
The sender is woken after each write. Nothing here blocks on the network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from gateway.core.clock import Clock
from gateway.core.model import Processed
from gateway.events.build import (
    DeviceState,
    Event,
    Site,
    device_event,
    health_event,
    round_event,
    ticket_event,
)
from gateway.events.outbox import KnownDevice, Outbox

log = logging.getLogger("sitegate.events")

Figures = Callable[[datetime], Mapping[str, Any]]
# Every device's id and what head office follows of it, without its view (None: online unknown).
States = Callable[[datetime], Iterable[tuple[str, DeviceState | None]]]
View = Callable[[str, datetime], Mapping[str, Any] | None]  # one device's `GET /api/devices` item


class EventWatch:
    """A pipeline consumer (for its tick) and a bus listener; it takes no batch itself."""

    name = "events"

    def __init__(self, site: Site, outbox: Outbox, *, clock: Clock, wake: Callable[[], None],
                 states: States, view: View,
                 health: Callable[[], Mapping[str, Any]], figures: Figures,
                 health_every: timedelta, device_every: timedelta, min_gap: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic, background: bool = False) -> None:
        """`min_gap`: real seconds between two comparisons (and ten times that between two health
        events), whatever the site clock does: a demo or a test on a fast clock must not spend its
        pipeline thread on them.

        `background`: the comparison and the health event run on a thread of their own, started by
        the tick. They read the registry and the ticket store (both thread-safe) and write the outbox;
        on the pipeline thread they held every message behind them for 4-15 ms a second (a guard's
        tap waiting for its ack among them; bench/README.md, "Latency")."""
        self.site, self.outbox, self.clock = site, outbox, clock
        self.min_gap, self._monotonic = min_gap, monotonic
        self._last_devices = self._last_health = float("-inf")
        self._wake = wake
        self._states, self._view = states, view
        self._health, self._figures = health, figures
        self.health_every, self.device_every = health_every, device_every
        self._next_health: datetime | None = None
        self._next_devices: datetime | None = None
        self._known: dict[str, KnownDevice] = outbox.devices()
        self._went: dict[str, datetime] = {}  # device -> when the registry saw it go online/offline
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="events-watch") if background else None
        self._busy: Future[None] | None = None

    # -- the bus --------------------------------------------------------------------------------
    def on_bus(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "ticket":
            self._add([ticket_event(self.site, data, str(data.get("change", "")))])
        elif kind == "round":
            ended = data.get("ended_at")
            at = datetime.fromisoformat(ended) if ended else self.clock.now()
            found = round_event(self.site, data, str(data.get("change", "")), at)
            if found is not None:
                self._add([found])
        elif kind == "device" and data.get("change") in ("online", "offline") and data.get("ts"):
            self._went[str(data["device"])] = datetime.fromisoformat(str(data["ts"]))
            self._next_devices = None  # compare at the next tick rather than at the next interval

    # -- the pipeline -------------------------------------------------------------------------------
    def handle(self, batch: Sequence[Processed]) -> None:
        del batch  # events come from the bus and from tick()

    def tick(self, now: datetime) -> None:
        real = self._monotonic()
        if self._busy is not None and not self._busy.done():
            return  # the last round of work is still running: no second one behind it
        devices = ((self._next_devices is None or now >= self._next_devices)
                   and real - self._last_devices >= self.min_gap)
        health = ((self._next_health is None or now >= self._next_health)
                  and real - self._last_health >= 10 * self.min_gap)
        if devices:
            self._next_devices, self._last_devices = now + self.device_every, real
        if health:
            self._next_health, self._last_health = now + self.health_every, real
        if not (devices or health):
            return
        if self._worker is None:
            self._work(now, devices, health)
        else:
            self._busy = self._worker.submit(self._work, now, devices, health)

    def _work(self, now: datetime, devices: bool, health: bool) -> None:
        try:
            if devices:
                self.check_devices(now)
            if health:
                self.send_health(now)
        except Exception:
            if self._worker is None:
                raise  # on the pipeline thread: the pipeline counts and reports a failing tick
            log.exception("comparing device states or sending the health event failed; "
                          "tried again at the next interval")

    def close(self) -> None:
        """Wait for the work in progress (before the outbox closes)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)

    def snapshot(self) -> Any:
        return None  # what head office was told is in the outbox itself

    def restore(self, state: Any) -> None:
        del state

    # -- the work -----------------------------------------------------------------------------------
    def check_devices(self, now: datetime) -> int:
        """An event for every device whose state or health changed since head office was told.

        Compares states only; the view an event carries is built for the devices that changed (a
        view of every device every few seconds was ~3 KB each, 300 MiB at 100,000 devices)."""
        events: list[Event] = []
        told: list[tuple[str, KnownDevice]] = []
        for device, state in self._states(now):
            if state is None:
                continue
            known = self._known.get(device)
            if known is not None and known.state == state:
                continue
            view = self._view(device, now)
            if view is None:
                continue
            went = self._went.get(device)
            moved = known is None or known.state.state != state.state
            since = went if moved and went is not None else now
            event = device_event(self.site, view, state, since)
            events.append(event)
            told.append((device, KnownDevice(state, since.isoformat())))
        if events:
            self._add(events, told)
            self._known.update(told)
        return len(events)

    def send_health(self, now: datetime) -> None:
        self._add([health_event(self.site, self._health(), self._figures(now), now)])

    def catch_up(self, tickets: Sequence[Mapping[str, Any]]) -> int:
        """Tickets (API shape) whose latest revision never reached the outbox (a crash between the
        ticket store's commit and the outbox's): their current state goes out now."""
        missing = []
        for doc in tickets:
            history = doc.get("history") or []
            change = "opened" if doc.get("revision") == 1 else (history[-1]["action"] if history else "")
            event = ticket_event(self.site, doc, change)
            if not self.outbox.has(event.id):
                missing.append(event)
        if missing:
            log.warning("%d ticket change(s) were stored but not in the events outbox (a crash?); "
                        "sending their latest state.", len(missing))
            self._add(missing)
        return len(missing)

    def _add(self, events: Sequence[Event], devices: Sequence[tuple[str, KnownDevice]] = ()) -> None:
        self.outbox.add(events, devices)
        self._wake()
