"""The events outbox on a real SQLite file: one row per id, oldest unsent first, sent only when told,
pruned after a while, bounded by dropping old health events only, and still there after a reopen."""

from __future__ import annotations

from pathlib import Path

from gateway.events.build import DeviceState, Event
from gateway.events.outbox import KnownDevice, Outbox


def ev(id_: str, kind: str = "ticket") -> Event:
    return Event(id_, kind, "gateway.health" if kind == "health" else "ticket.changed",
                 f"sitegate/s/events/{kind}", f'{{"id": "{id_}"}}'.encode())


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_an_id_is_stored_once_and_unsent_events_come_oldest_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "events.db")
    assert box.add([ev("s/ticket/T-1/1"), ev("s/ticket/T-1/2")]) == 2
    assert box.add([ev("s/ticket/T-1/2"), ev("s/ticket/T-2/1")]) == 1  # the same change concluded again
    pending = box.unsent(10)
    assert [p.id for p in pending] == ["s/ticket/T-1/1", "s/ticket/T-1/2", "s/ticket/T-2/1"]
    assert [p.id for p in box.unsent(1, skip=[pending[0].seq])] == ["s/ticket/T-1/2"]
    box.mark_sent([pending[0].seq, pending[2].seq])
    assert [p.id for p in box.unsent(10)] == ["s/ticket/T-1/2"]
    assert box.counts() == {"unsent": 1, "sent": 2}


def test_what_was_not_acknowledged_is_still_unsent_after_a_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "events.db")
    box.add([ev("a"), ev("b")], [("smoke-3", KnownDevice(DeviceState("offline", False), "2026-12-02T21:02:00+08:00"))])
    box.mark_sent([box.unsent(1)[0].seq])
    # No close(): as after a kill -9.
    again = Outbox(tmp_path / "events.db")
    assert [p.id for p in again.unsent(10)] == ["b"]
    assert again.devices() == {"smoke-3": KnownDevice(DeviceState("offline", False), "2026-12-02T21:02:00+08:00")}
    assert again.has("a") and not again.has("c")


def test_sent_events_are_pruned_after_keep_sent_and_unsent_ones_kept(tmp_path: Path) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "events.db", keep_sent=3600, now=clock)
    box.add([ev("old"), ev("waiting")])
    box.mark_sent([box.unsent(1)[0].seq])
    clock.t += 3599
    assert box.prune() == 0
    clock.t += 2
    assert box.prune() == 1
    assert box.counts() == {"unsent": 1, "sent": 0}
    assert [p.id for p in box.unsent(10)] == ["waiting"]


def test_past_max_unsent_only_the_oldest_health_events_make_room(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "events.db", max_unsent=4)
    box.add([ev("h1", "health"), ev("t1"), ev("h2", "health"), ev("t2"), ev("h3", "health"), ev("t3"),
             ev("t4"), ev("t5")])
    assert box.prune() == 3  # 8 unsent, 4 allowed: the three health events go, every ticket stays
    assert box.dropped == 3
    assert [p.id for p in box.unsent(10)] == ["t1", "t2", "t3", "t4", "t5"]
