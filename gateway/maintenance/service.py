"""Planned work in the running gateway: occurrences opened as planned tickets, checklist results
recorded (a fault opens a repair ticket; the last result resolves the ticket), taps at an asset's
checkpoint noted as proof of presence, and the overview of due, overdue and expired items.

Tickets are opened through the ticket service (same store, lifecycle, deadlines and notifications).
Checklist and presence changes are written to the ticket store here, each guarded by the ticket's
revision like the service's own updates, and published through the service's notifier. (The ticket
service's in-memory map of active tickets may hold an older revision of a planned ticket meanwhile;
it only serves alerts' dedup keys, which planned keys never are, and every action re-reads the store.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from gateway.core.model import DeviceInfo
from gateway.maintenance import checklist
from gateway.maintenance.assets import AssetDates
from gateway.maintenance.checklist import Result
from gateway.maintenance.planner import Occurrence, Planner
from gateway.tickets.changes import Details, Request
from gateway.tickets.lifecycle import ACTIVE
from gateway.tickets.service import TicketNotFound, TicketService
from gateway.tickets.store import DuplicateActiveTicket
from gateway.tickets.ticket import HistoryEntry, Ticket, localize

log = logging.getLogger(__name__)
SCHEDULER = "schedule"  # the actor of what the schedules open
_RETRIES = 20


class MaintenanceService:
    def __init__(self, tickets: TicketService, planner: Planner, *, inventory: Mapping[str, DeviceInfo],
                 dates: Mapping[str, AssetDates], checkpoints: Mapping[str, str], tz: tzinfo,
                 expiry_warning: timedelta = timedelta(days=30)) -> None:
        """`checkpoints`: device id -> the id of the patrol checkpoint at it."""
        self.tickets, self.planner, self.tz = tickets, planner, tz
        self.inventory, self.dates, self.checkpoints = inventory, dates, checkpoints
        self.expiry_warning = expiry_warning
        # Checkpoints where planned work can be: only taps there are looked up (a patrol night has many).
        self.watched = set(checkpoints.values()) | {s.checkpoint for s, _ in planner.plans if s.checkpoint}
        self._settled: set[str] = set()  # occurrence keys known to have their ticket (this run)
        self._lock = threading.Lock()

    # -- opening -----------------------------------------------------------------------------------

    def open_due(self, since: datetime, now: datetime) -> list[Ticket]:
        """Open the ticket of every occurrence open as of `now` and not yet past its day as of `since`,
        unless it has one already (open, done or cancelled): safe to call again over the same window."""
        opened: list[Ticket] = []
        with self._lock:
            due = [occ for occ in self.planner.occurrences(since, now) if occ.key not in self._settled]
            if not due:
                return opened
            # One query for all of them, not one each (a first start opens a whole site's schedules).
            with self.tickets.store.read() as tx:
                held = tx.keys_held(self.tickets.site, [occ.key for occ in due])
            for occ in due:
                if occ.key not in held:
                    ticket = self._open(occ, now)
                    if ticket is not None:
                        opened.append(ticket)
                    held.add(occ.key)
                self._settled.add(occ.key)
        return opened

    def _open(self, occ: Occurrence, now: datetime) -> Ticket | None:
        target, schedule = occ.target, occ.schedule
        device = self.inventory.get(target.device_id)
        where = target.place or target.zone or target.id
        items = checklist.new_items(list(schedule.checklist))
        request = Request(
            source="planned", channel="schedule", title=f"{schedule.name}: {where}",
            description=f"{schedule.name}, due {occ.due.isoformat()}"
                        + (f" ({device.kind} {device.id})" if device else ""),
            category=schedule.category, place=target.place, zone=target.zone, device_id=target.device_id,
            checkpoint=self.checkpoints.get(target.device_id, "") or (schedule.checkpoint or ""),
            reported_at=min(occ.opens_at, now), checklist=tuple(items), key=occ.key, resolve_due=occ.resolve_due)
        team = schedule.team or target.owner
        try:
            # Assigned in the transaction that opens it: one commit, one read of the open counts.
            return self.tickets.create(request, actor=SCHEDULER, now=now,
                                       then=(lambda t: _assigned(t, team, now)) if team else None)
        except DuplicateActiveTicket:
            return None  # another gateway sharing the store opened it a moment ago

    # -- results -----------------------------------------------------------------------------------

    def record(self, ticket_id: str, index: int, result: Result, *, note: str, actor: str,
               now: datetime) -> Ticket:
        """Record one item's result; a fault opens a repair ticket; the last result resolves the ticket.
        Raises TicketNotFound, NotInspectable, NoSuchItem (and TicketConflict on a lost race)."""
        current = self.tickets.get(ticket_id)
        if current is None:
            raise TicketNotFound(ticket_id)
        checklist.check_recordable(current, index)
        repair = self._repair(current, index, note, actor, now) if result == "fault" else None
        saved = self._update(ticket_id, lambda t: checklist.record_item(
            t, index, result, note=note, actor=actor, now=now, tz=self.tz, repair=repair))
        if checklist.complete(saved):
            saved = self.tickets.act(ticket_id, "resolve", actor=actor, now=now,
                                     note="every checklist item has a result 检查项全部完成",
                                     details=Details(work_done=checklist.summary(saved)))
        return saved

    def _repair(self, planned: Ticket, index: int, note: str, actor: str, now: datetime) -> str:
        item = planned.checklist[index].get("item", "")
        key = f"repair:{planned.dedup_key}:{index}"
        request = Request(
            source="repair", channel="schedule", title=f"{item} — fault found in {planned.id}",
            description=f"Found during {planned.title} ({planned.id}), item {index}: {item}"
                        + (f"; {note}" if note else ""),
            category=planned.category, place=planned.place, zone=planned.zone, device_id=planned.device_id,
            reporter_name=actor, key=key)
        try:
            return self.tickets.create(request, actor=actor, now=now).id
        except DuplicateActiveTicket:  # the same item was reported faulty before and is still open
            with self.tickets.store.read() as tx:
                found = tx.find_active(self.tickets.site, key)
            return found.id if found is not None else ""

    # -- presence ----------------------------------------------------------------------------------

    def presence(self, *, checkpoint: str, device: str | None, who: str, at: datetime) -> list[Ticket]:
        """A tap at `checkpoint` (at `device`, if it is at one): noted on the open planned tickets there."""
        if checkpoint not in self.watched:
            return []
        with self.tickets.store.read() as tx:
            here = [t for t in tx.active(self.tickets.site) if t.source == "planned"
                    and (t.labels.get("checkpoint") == checkpoint or (device and t.device_id == device))]
        noted = []
        for t in sorted(here, key=lambda t: t.seq):
            try:
                noted.append(self._update(t.id, lambda cur: checklist.record_presence(
                    cur, checkpoint=checkpoint, who=who, at=at, tz=self.tz)))
            except TicketNotFound:
                continue
        return noted

    # -- overview ----------------------------------------------------------------------------------

    def overview(self, now: datetime) -> dict[str, Any]:
        """`GET /api/maintenance`: open planned work (due, overdue), expired and expiring equipment."""
        with self.tickets.store.read() as tx:
            active = [localize(t, self.tz) for t in tx.active(self.tickets.site) if t.source == "planned"]
        due: list[dict[str, Any]] = []
        overdue: list[dict[str, Any]] = []
        for t in sorted(active, key=lambda t: (t.resolve_due_at or t.opened_at, t.seq)):
            (overdue if t.resolve_due_at is not None and t.resolve_due_at < now else due).append(_item(t))
        today = now.astimezone(self.tz).date()
        expired: list[dict[str, Any]] = []
        expiring: list[dict[str, Any]] = []
        for device_id, d in sorted(self.dates.items()):
            if d.expiry is None:
                continue
            if d.expiry < today:
                expired.append(self._asset(device_id, d.expiry, today))
            elif d.expiry <= today + self.expiry_warning:
                expiring.append(self._asset(device_id, d.expiry, today))
        counts = {"due": len(due), "overdue": len(overdue), "expired": len(expired), "expiring": len(expiring)}
        return {"due": due, "overdue": overdue, "expired": expired, "expiring": expiring, "counts": counts}

    def counts(self, now: datetime) -> dict[str, int]:
        counts: dict[str, int] = self.overview(now)["counts"]
        return counts

    def _asset(self, device_id: str, expiry: date, today: date) -> dict[str, Any]:
        info = self.inventory.get(device_id)
        return {"device_id": device_id, "kind": info.kind if info else None, "zone": info.zone if info else None,
                "location": info.location if info else None, "expiry": expiry.isoformat(),
                "days_past": (today - expiry).days}

    # -- plumbing ----------------------------------------------------------------------------------

    def _update(self, ticket_id: str, change: Callable[[Ticket], Ticket | None]) -> Ticket:
        """Apply `change` through the ticket service (revision-checked, retried, cached, published)."""
        return self.tickets.update(ticket_id, change)


def _assigned(t: Ticket, team: str, now: datetime) -> Ticket | None:
    """The schedule's (or the asset's owner) team takes the ticket the zone's team would have had."""
    if t.status not in ACTIVE or t.team == team:
        return None
    new = checklist.edited(t)
    new.team = new.assignee = team
    new.history.append(HistoryEntry(at=now, actor=SCHEDULER, action="assigned", note=f"owner team {team}",
                                    from_status=t.status, to_status=t.status))
    return new


def _item(t: Ticket) -> dict[str, Any]:
    done = sum(1 for item in t.checklist if item.get("result") in ("ok", "fault"))
    return {"ticket_id": t.id, "title": t.title, "schedule": t.dedup_key.split(":")[1], "device_id": t.device_id,
            "zone": t.zone, "place": t.place, "team": t.team, "status": t.status,
            "opened_at": t.opened_at.isoformat(),
            "due_at": t.resolve_due_at.isoformat() if t.resolve_due_at else None,
            "items": len(t.checklist), "done": done,
            "checkpoint": t.labels.get("checkpoint") or None}
