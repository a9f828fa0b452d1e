"""Planned maintenance on the pipeline: the tick opens what falls due (on the pipeline's clock, so
`sitegate run` and replay behave alike); taps at a checkpoint are noted on the planned tickets there.

The snapshot keeps how far the schedules were scanned, so after a restart (or a night without
power) the occurrences that opened meanwhile are opened, and nothing twice: each occurrence's key
is its ticket's dedup key, and the store is asked before opening.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from gateway.core.model import Processed, Tap
from gateway.maintenance.service import MaintenanceService
from gateway.patrol.model import Checkpoint, PatrolPlan, norm_tag

RECHECK = timedelta(days=1)  # with no opening in sight, look again daily


class TapPlaces:
    """Which checkpoint a tap was made at, and by whom, as the patrol tracker tells them apart: a
    fixed reader and a guard's card, or a guard's handheld reader and the checkpoint's tag."""

    def __init__(self, plan: PatrolPlan | None) -> None:
        cps = plan.checkpoints if plan else []
        guards = plan.guards if plan else []
        self._by_reader = {c.reader: c for c in cps if c.reader}
        self._by_tag = {c.tag: c for c in cps if c.tag}
        self._guard_by_card = {g.card: g.id for g in guards if g.card}
        self._guard_by_reader = {g.reader: g.id for g in guards if g.reader}

    def place(self, tap: Tap) -> tuple[Checkpoint, str] | None:
        tag = norm_tag(tap.tag)
        if tap.device in self._by_reader:
            guard = self._guard_by_card.get(tag)
            return (self._by_reader[tap.device], guard) if guard else None  # an unknown card proves nothing
        cp = self._by_tag.get(tag)
        if cp is None:
            return None
        return cp, self._guard_by_reader.get(tap.device, f"reader {tap.device}")


class MaintenanceConsumer:
    name = "maintenance"

    def __init__(self, service: MaintenanceService, places: TapPlaces) -> None:
        self.service = service
        self.places = places
        self.scanned_to: datetime | None = None
        self._next: datetime | None = None  # the next opening after scanned_to (None: look it up)

    def handle(self, batch: Sequence[Processed]) -> None:
        for p in batch:
            for tap in p.decoded.taps:
                found = self.places.place(tap)
                if found is not None:
                    cp, who = found
                    self.service.presence(checkpoint=cp.id, device=cp.device, who=who, at=tap.ts)

    def tick(self, now: datetime) -> None:
        if self.scanned_to is not None and self._next is not None and now < self._next:
            return  # nothing opens before the next opening: no query each tick
        # First start: what is open now and not past its day; after a restart, also what opened
        # while the gateway was down.
        since = min(self.scanned_to or now, now)
        self.service.open_due(since, now)
        self.scanned_to = max(now, self.scanned_to or now)
        self._next = self.service.planner.next_opening(self.scanned_to) or self.scanned_to + RECHECK

    def snapshot(self) -> Any:
        return {"scanned_to": self.scanned_to.isoformat() if self.scanned_to else None}

    def restore(self, state: Any) -> None:
        if state and state.get("scanned_to"):
            self.scanned_to = datetime.fromisoformat(state["scanned_to"])
            self._next = None
