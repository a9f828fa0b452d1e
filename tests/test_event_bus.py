"""The live event bus: listeners get the kinds they name; `wants` says whether an event would reach
anybody, so the pipeline builds no per-message "reading" event nobody reads."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.core.events import EventBus


def test_a_listener_gets_only_the_kinds_it_named_and_one_without_kinds_gets_all() -> None:
    bus = EventBus()
    some: list[str] = []
    bus.listen(lambda kind, _data: some.append(kind), kinds=("ticket", "device"))
    for kind in ("reading", "ticket", "tap", "device"):
        bus.publish(kind, {})
    assert some == ["ticket", "device"]
    every: list[str] = []
    bus.listen(lambda kind, _data: every.append(kind))
    bus.publish("reading", {})
    assert every == ["reading"] and some == ["ticket", "device"]


def test_wants_follows_listeners_and_live_clients() -> None:
    bus = EventBus()
    assert not bus.wants("reading")
    bus.listen(lambda _kind, _data: None, kinds=("ticket",))
    assert bus.wants("ticket") and not bus.wants("reading")

    async def client() -> tuple[bool, bool, dict[str, Any]]:
        queue = bus.subscribe()
        wanted = bus.wants("reading")
        bus.publish("reading", {"device": "lamp-1"})
        event = await asyncio.wait_for(queue.get(), 5)
        bus.unsubscribe(queue)
        return wanted, bus.wants("reading"), event

    wanted, after, event = asyncio.run(client())
    assert wanted and not after  # a dashboard open: yes; closed again: no
    assert event == {"type": "reading", "data": {"device": "lamp-1"}}
    bus.listen(lambda _kind, _data: None)  # a listener of every kind
    assert bus.wants("reading")
