"""Alerts in, tickets out: dedup, repeats, cleared conditions, escalation, inhibition, maintenance
windows, and a notification for every change.

The service is thread-safe (ingest thread, API threads and a timer call it). Each call works in one
store transaction and publishes only after commit. An in-memory map of active tickets by dedup key
makes a repeat of an open fault one UPDATE; the store's unique index and revision check stay the
truth, so a stale entry (another gateway changed the ticket) is noticed and re-read.
"""

from __future__ import annotations

import builtins
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any

from gateway.core.errors import SitegateError
from gateway.core.model import AlertEvent, EventSink, Publisher
from gateway.tickets import changes, emergency, lifecycle
from gateway.tickets.changes import Change
from gateway.tickets.emergency_notify import EmergencyNotifier
from gateway.tickets.notify import Notifier
from gateway.tickets.policy import Facts, TicketPolicy, WebhookConfig, explains
from gateway.tickets.store import DuplicateActiveTicket, TicketStore, Tx
from gateway.tickets.ticket import HistoryEntry, Ticket, localize

log = logging.getLogger(__name__)

_RETRIES = 20  # re-reads after a concurrent change before giving up on one event
# How long tick() may trust the earliest deadline it read, in real seconds: this service's own writes
# keep it true (see _transaction), but another gateway sharing the store may write an earlier one.
# Real time, not the site clock's, because that is where another gateway's writes happen (as the
# open ticket counts' ttl, gateway/tickets/counts.py): a replay's or a fake clock's site minutes
# would otherwise make every tick read the store again although nobody else writes it.
DEADLINE_RECHECK = 60.0
_NEVER = datetime.max.replace(tzinfo=UTC)  # no deadline pending


class TicketNotFound(SitegateError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"There is no ticket {ticket_id} at this site; check the id (like T-000123).")


class TicketConflict(SitegateError):
    """The action is legal for the status, but the store refused it (another active ticket, a race)."""


@dataclass(slots=True)
class ServiceStats:
    opened: int = 0
    suppressed: dict[str, int] = field(default_factory=lambda: {"inhibited": 0, "maintenance": 0, "drill": 0})
    ignored: int = 0  # events with an unknown state, or clears without a ticket
    races: int = 0  # another gateway opened or changed the same ticket first; resolved by re-reading


@dataclass(frozen=True, slots=True)
class _Mute:
    reason: str  # inhibited | maintenance | drill
    source: str  # ticket id or window label
    note: str
    ticket: Ticket | None  # the root-cause ticket, for inhibition


class TicketService:
    def __init__(self, store: TicketStore, *, site_id: str, tz: tzinfo, policy: TicketPolicy,
                 publisher: Publisher | None = None, events: EventSink | None = None,
                 webhooks: Sequence[WebhookConfig] = (), emergency_notices: bool = False,
                 now: Callable[[], datetime] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """`webhooks` are exactly the ones called: the running gateway passes the policy's, a replay
        none (never the policy's as a fallback, so a replay cannot reach the outside world). Likewise
        the emergency levels' notification lists are only sent with `emergency_notices`; `now` stamps
        their outcomes in the history (the gateway's clock). `monotonic` measures DEADLINE_RECHECK."""
        self.store, self.site, self.tz, self.policy = store, site_id, tz, policy
        self.stats = ServiceStats()
        self.notifier = Notifier(site=site_id, tz=tz, publisher=publisher, events=events,
                                 webhooks=webhooks, queue_size=policy.webhook_queue)
        self.emergency = EmergencyNotifier(site=site_id, tz=tz, response=lambda: self.policy.emergency_response,
                                           publisher=publisher, record=self.append_history,
                                           enabled=emergency_notices, now=now)
        self._lock = threading.RLock()
        with store.read() as tx:
            self._cache: dict[str, Ticket] = {t.dedup_key: t for t in tx.active(site_id)}
        # At or before every deadline in the store (None: look). Read by tick() at site time
        # `_deadline_read_at`, real time `_deadline_read_mono`; each transaction here lowers it to the
        # deadlines it wrote, so ticks between deadlines query nothing. Another gateway's writes are
        # seen within DEADLINE_RECHECK.
        self._monotonic = monotonic
        self._next_deadline: datetime | None = None
        self._deadline_read_at: datetime | None = None
        self._deadline_read_mono = 0.0
        # Write transactions committed, counted after each commit and before its changes are
        # published (OpenTicketCounts reads the counts once per commit, not once per change).
        self.commits = 0

    def start(self) -> None:
        """Start the webhook deliveries (the gateway's start; never in the constructor)."""
        self.notifier.start()
        self.emergency.start()

    def close(self) -> None:
        self.notifier.close()
        self.emergency.close()

    def set_policy(self, policy: TicketPolicy) -> None:
        """Take a reloaded `tickets:` section; applies to events and deadlines from now on."""
        with self._lock:
            self.policy = policy

    # -- alerts ------------------------------------------------------------------------------------

    def handle(self, events: Sequence[AlertEvent]) -> list[Ticket]:
        """Apply a batch of alert events; returns the tickets that changed, each once, latest state."""
        # Root causes first, so a power outage in the same batch mutes the lamp faults it explains.
        ordered = sorted(events, key=lambda e: 0 if self.policy.is_inhibit_source(e.rule, e.labels) else 1)
        def work(tx: Tx, staged: dict[str, Ticket]) -> builtins.list[builtins.list[Change]]:
            groups = [self._apply(tx, staged, ev) for ev in ordered]
            return [*groups, self._emergency_levels(tx, staged, [c for group in groups for c in group])]

        with self._lock:
            done = self._transaction(work)
        return [self._local(t) for t in _latest(done)]

    def _apply(self, tx: Tx, staged: dict[str, Ticket], ev: AlertEvent) -> list[Change]:
        if ev.state == "firing":
            return self._firing(tx, staged, ev)
        if ev.state == "cleared":
            return self._cleared(tx, staged, ev)
        self.stats.ignored += 1
        log.warning("Alert event for %s on %s has state %r; expected firing or cleared. Ignored.",
                    ev.rule, ev.device, ev.state)
        return []

    def _firing(self, tx: Tx, staged: dict[str, Ticket], ev: AlertEvent) -> list[Change]:
        for _ in range(_RETRIES):
            current = self._holder(tx, staged, ev)
            joined = ""
            if current is None and (current := self._related(tx, staged, ev)) is not None:
                joined = changes.joined_note(current, ev)
            if current is None:
                mute = self._mute(tx, staged, ev)
                if mute is not None:
                    return self._suppress(tx, staged, ev, mute)
                try:
                    fresh = changes.open_ticket(ev, site=self.site, policy=self.policy, tz=self.tz)
                    opened = tx.insert(fresh)
                except DuplicateActiveTicket:
                    self.stats.races += 1
                    staged.pop(ev.key, None)
                    self._cache.pop(ev.key, None)
                    continue  # another gateway opened it a moment ago: count this event on theirs
                self.stats.opened += 1
                staged[ev.key] = opened
                self._note_signal(tx, opened, ev)
                return [Change(opened, "opened"), *self._fold(tx, staged, opened, ev)]
            change = changes.record_firing(current, ev, policy=self.policy, tz=self.tz, joined=joined)
            if not joined and changes.reporter(ev) is None and current.dedup_key not in _keys(ev):
                # A sensor pinpoints the fault a person reported at a place (_in_zone): the ticket
                # becomes the device's, so its repeats and its clear land on it.
                change.ticket.dedup_key, change.ticket.device_id = ev.key, ev.device
                staged.pop(current.dedup_key, None)
                self._cache.pop(current.dedup_key, None)
            saved = self._save(tx, staged, change, current)
            if saved is not None:
                self._note_signal(tx, saved.ticket, ev)
                return [saved, *self._fold(tx, staged, saved.ticket, ev)]
        raise TicketConflict(f"Gave up on {ev.key} after {_RETRIES} concurrent changes; it will be "
                             "retried with the next event.")

    def _cleared(self, tx: Tx, staged: dict[str, Ticket], ev: AlertEvent) -> list[Change]:
        for _ in range(_RETRIES):
            cleared = changes.signal(ev)
            current = self._holder(tx, staged, ev)
            if current is None and cleared is not None:
                related = self._related(tx, staged, ev)
                if related is not None and tx.has_signal(related.seq, cleared):  # it joined that ticket
                    current = related
            current = current or next(
                (t for key in _keys(ev) if (t := tx.latest_resolved(self.site, key)) is not None), None)
            if current is None:
                self.stats.ignored += 1  # a condition that cleared while muted or before a ticket
                return []
            if cleared is not None and tx.drop_signal(current.seq, cleared):
                return []  # another rule of the same fault still fires: the fault is still there
            change = changes.record_cleared(current, ev, policy=self.policy, tz=self.tz)
            if change is None:
                return []
            saved = self._save(tx, staged, change, current)
            if saved is not None:
                return [saved]
        raise TicketConflict(f"Gave up clearing {ev.key} after {_RETRIES} concurrent changes.")

    def _holder(self, tx: Tx, staged: dict[str, Ticket], ev: AlertEvent) -> Ticket | None:
        """The active ticket of the event's fault: at its device, else (a person's report about a
        place, or a sensor after such a report) the same fault's open ticket in the same zone."""
        found = next((t for key in _keys(ev) if (t := self._active(tx, staged, key)) is not None), None)
        return found if found is not None or ev.state != "firing" else self._in_zone(staged, ev)

    def _in_zone(self, staged: dict[str, Ticket], ev: AlertEvent) -> Ticket | None:
        """A guard taps "lamp out" at the checkpoint where they see it, not at the lamp: the report
        and the lamp's own rule are one fault when their zone and fault match. A report joins any
        such ticket (the oldest); a sensor takes over only a ticket that a report opened."""
        fault = ev.labels.get("fault")
        if not fault or not ev.zone:
            return None
        by_person = changes.reporter(ev) is not None
        active = {t.seq: t for t in (*self._cache.values(), *staged.values()) if t.status in lifecycle.ACTIVE}
        candidates = [t for t in active.values()
                      if t.zone == ev.zone and t.labels.get("fault") == fault and t.device_id != ev.device
                      and (by_person or "reported_by" in t.labels)]
        return min(candidates, key=lambda t: t.seq) if candidates else None

    def _related(self, tx: Tx, staged: dict[str, Ticket], ev: AlertEvent) -> Ticket | None:
        """The active ticket of another fault at the event's device that is the same fault: one of
        the two explains the other (a dead battery, and the detector that went silent because of it).
        The event joins it, so one fault stays one ticket whichever was seen first."""
        if not ev.labels.get("fault"):
            return None
        for found in tx.active_at(self.site, ev.device):
            t = staged.get(found.dedup_key, found)
            if t.status in lifecycle.ACTIVE and (changes.explains(t.labels, ev.labels)
                                                 or changes.explains(ev.labels, t.labels)):
                return t
        return None

    @staticmethod
    def _note_signal(tx: Tx, ticket: Ticket, ev: AlertEvent) -> None:
        fired = changes.signal(ev)
        if fired is not None:
            tx.add_signal(ticket.seq, fired)

    def _active(self, tx: Tx, staged: dict[str, Ticket], key: str) -> Ticket | None:
        if key in staged:
            found: Ticket | None = staged[key]
            return found if found is not None and found.status in lifecycle.ACTIVE else None
        found = self._cache.get(key)
        if found is None:
            found = tx.find_active(self.site, key)
            if found is not None:
                staged[key] = found
        return found

    def _save(self, tx: Tx, staged: dict[str, Ticket], change: Change, base: Ticket) -> Change | None:
        """Store a change; None (and the stale copy forgotten) when another writer got there first."""
        saved = tx.save(change.ticket, base=base)
        if saved is None:
            self.stats.races += 1
            staged.pop(base.dedup_key, None)
            self._cache.pop(base.dedup_key, None)
            return None
        staged[saved.dedup_key] = saved
        return Change(saved, change.action)

    # -- inhibition and maintenance ---------------------------------------------------------------

    def _mute(self, tx: Tx, staged: dict[str, Ticket], ev: AlertEvent) -> _Mute | None:
        at = changes.aware(ev.ts, self.tz)
        window = self.policy.window_for(rule=ev.rule, device=ev.device, zone=ev.zone, at=at, tz=self.tz)
        if window is not None:
            return _Mute(window.kind, window.label(), window.reason, None)
        rules = [r for r in self.policy.inhibit if r.targets(ev.rule, ev.labels)]
        if not rules:
            return None
        target = Facts(ev.rule, ev.device, ev.zone, ev.kind, ev.category, ev.labels)
        for found in tx.active_matching(self.site, lambda rule, labels: any(r.is_source(rule, labels) for r in rules),
                                        holding=True):
            source = staged.get(found.dedup_key, found)
            if source.dedup_key == ev.key or source.condition_cleared or source.status not in lifecycle.ACTIVE:
                continue
            if any(explains(r, _facts(source), target) for r in rules):
                return _Mute("inhibited", source.id, f"{source.title} ({source.id})", source)
        return None

    def _fold(self, tx: Tx, staged: dict[str, Ticket], root: Ticket, ev: AlertEvent) -> list[Change]:
        """Inhibition whichever was seen first: the open tickets this root cause explains that were
        opened before it (lamps drop off the network before their board's meter reports) are closed
        into it, as later alerts of them are muted. A ticket a person acknowledged stays theirs."""
        rules = [r for r in self.policy.inhibit if r.is_source(root.rule, root.labels)]
        if not rules or root.condition_cleared or root.status not in lifecycle.ACTIVE:
            return []
        at = changes.aware(ev.ts, self.tz)
        out: list[Change] = []
        for found in tx.active_matching(self.site, lambda rule, labels: any(r.targets(rule, labels) for r in rules)):
            target = staged.get(found.dedup_key, found)
            if target.seq == root.seq or target.status != "open" or not any(
                    explains(r, _facts(root), _facts(target)) and target.opened_at >= root.opened_at - r.fold_within
                    for r in rules):
                continue
            folded = changes.fold_into(target, root, at=at, policy=self.policy, tz=self.tz)
            saved = self._save(tx, staged, Change(folded, "cancelled"), target)
            if saved is None:
                continue  # changed by someone else a moment ago: theirs to decide
            out.append(saved)
            tx.record_suppression(site=self.site, key=target.dedup_key, rule=target.rule, device=target.device_id,
                                  zone=target.zone, reason="inhibited", source=root.id,
                                  note=f"{root.title} ({root.id})", title=target.title, at=at)
            self.stats.suppressed["inhibited"] += 1
            out += self._note_on(tx, staged, root, partial(changes.note_folded, target=target, at=at, tz=self.tz))
        return out

    def _suppress(self, tx: Tx, staged: dict[str, Ticket], ev: AlertEvent, mute: _Mute) -> list[Change]:
        at = changes.aware(ev.ts, self.tz)
        first = tx.record_suppression(site=self.site, key=ev.key, rule=ev.rule, device=ev.device,
                                      zone=ev.zone, reason=mute.reason, source=mute.source, note=mute.note,
                                      title=ev.title, at=at)
        self.stats.suppressed[mute.reason] = self.stats.suppressed.get(mute.reason, 0) + 1
        if mute.ticket is None:
            return []
        return self._note_on(tx, staged, mute.ticket,
                             lambda base: changes.note_suppressed(base, ev, first=first, tz=self.tz))

    def _note_on(self, tx: Tx, staged: dict[str, Ticket], source: Ticket,
                 note: Callable[[Ticket], Change]) -> list[Change]:
        """Note on the root-cause ticket what it explained, re-reading it after a concurrent change."""
        for _ in range(_RETRIES):
            base = staged.get(source.dedup_key) or tx.find_active(self.site, source.dedup_key)
            if base is None or base.seq != source.seq:
                return []
            saved = self._save(tx, staged, note(base), base)
            if saved is not None:
                return [saved]
        return []

    # -- emergency response levels (一级/二级/三级 by incident class; see emergency.py) -------------

    def _emergency_levels(self, tx: Tx, staged: dict[str, Ticket], done: builtins.list[Change]) -> list[Change]:
        """Raise the emergency level of the active tickets in every zone these changes touched, as
        the zone's incident class now says (a second smoke detector raises the first one's too)."""
        response = self.policy.emergency_response
        watched = response.watched_faults()
        touched: dict[str, datetime] = {}
        lone: set[int] = set()  # changed tickets without a place: each is an incident of its own
        for change in done:
            t = change.ticket
            if response.enabled and t.labels.get("fault") in watched:
                at = t.last_seen_at or t.opened_at
                touched[t.zone] = max(at, touched.get(t.zone, at))
                if not emergency.is_place(t.zone):
                    lone.add(t.seq)
        if not touched:
            return []
        # Only the touched zones' tickets are read (not every active alarm of the site), and of the
        # tickets without a place only the changed ones: a new alarm costs its zone, not the site.
        zones = {z for z in touched if emergency.is_place(z)}
        out: list[Change] = []
        for _ in range(_RETRIES):
            active = tx.active_matching(self.site, lambda _rule, labels: labels.get("fault") in watched,
                                        zones=zones, seqs=lone)
            verdicts = emergency.classify_all(active, response.classes)
            raised = [(t, v) for t in active if (v := verdicts.get(t.seq)) is not None and emergency.raises(t, v)]
            if not raised:
                break
            for t, verdict in raised:
                new = emergency.with_level(t, verdict, at=touched[t.zone], response=response)
                saved = self._save(tx, staged, Change(new, emergency.ACTION), t)
                if saved is not None:
                    out.append(saved)
            # Saved ones no longer rise; a race (None) is read again on the next pass.
        return out

    def append_history(self, ticket_id: str, entry: HistoryEntry) -> Ticket:
        """Add one entry to a ticket's history whatever its status (who was notified, and when);
        revision-checked and retried like every write, then published."""
        def edit(current: Ticket) -> Ticket:
            new = localize(current, self.tz)
            new.history.append(entry)
            return new

        return self.update(ticket_id, edit)

    # -- deadlines and people ---------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Ticket]:
        """Escalate tickets past a deadline and flag overdue revisits, as of `now`."""
        with self._lock:
            read_at, deadline = self._deadline_read_at, self._next_deadline
            if (read_at is not None and deadline is not None and read_at <= now < deadline
                    and self._monotonic() - self._deadline_read_mono < DEADLINE_RECHECK):
                return []  # nothing falls due before the earliest deadline: no query each tick

            def work(tx: Tx, staged: dict[str, Ticket]) -> builtins.list[builtins.list[Change]]:
                out: builtins.list[builtins.list[Change]] = []
                for ticket in tx.due(self.site, now):
                    change = changes.check_deadlines(ticket, now, policy=self.policy, tz=self.tz)
                    saved = self._save(tx, staged, change, ticket) if change is not None else None
                    out.append([saved] if saved is not None else [])
                return out

            done = self._transaction(work)
            with self.store.read() as tx:
                self._next_deadline = tx.next_deadline(self.site) or _NEVER
            self._deadline_read_at, self._deadline_read_mono = now, self._monotonic()
        return [self._local(t) for t in _latest(done)]

    def create(self, request: changes.Request, *, actor: str, now: datetime,
               then: Callable[[Ticket], Ticket | None] | None = None) -> Ticket:
        """Register a request from a person (a complaint, a repair): a ticket of its own, on the same
        lifecycle, deadlines and reports as the sensors' tickets. `then` edits the new ticket in the
        same transaction, as an update() right after would (a copy with history appended; None:
        nothing to store), and its change is published after the opening."""
        with self._lock:
            def work(tx: Tx, staged: dict[str, Ticket]) -> builtins.list[builtins.list[Change]]:
                fresh = changes.open_request(request, site=self.site, actor=actor, now=now, policy=self.policy,
                                             tz=self.tz)
                opened = tx.insert(fresh)
                staged[opened.dedup_key] = opened
                self.stats.opened += 1
                # A call about a leak or a fire is a report of it: it takes part in the zone's 一级/二级/三级.
                out = [[Change(opened, "opened")], self._emergency_levels(tx, staged, [Change(opened, "opened")])]
                current = staged.get(opened.dedup_key, opened)  # as its emergency level left it
                edited = then(current) if then is not None else None
                if edited is not None:
                    saved = self._save(tx, staged, Change(edited, edited.history[-1].action), current)
                    out.append([saved] if saved is not None else [])
                return out

            done = self._transaction(work)
        return self._local(next(c.ticket for c in reversed(done) if c.ticket.dedup_key == done[0].ticket.dedup_key))

    def act(self, ticket_id: str, action: str, *, actor: str, note: str = "", now: datetime,
            details: changes.Details | None = None) -> Ticket:
        """A lifecycle or stage action (lifecycle.ACTIONS). Raises TicketNotFound, IllegalTransition,
        UnknownAction, TicketConflict, StageRefused or SameActor (the API answers 404, 409, 422, 409,
        409, 403)."""
        lifecycle.parse_action(action)
        return self.update(ticket_id, lambda current: changes.apply_action(
            current, action, actor=actor, note=note, now=now, policy=self.policy, tz=self.tz, details=details))

    def update(self, ticket_id: str, edit: Callable[[Ticket], Ticket | None]) -> Ticket:
        """Read the ticket, `edit` it (a copy with history appended; None: nothing to store), save it
        over what was read, again after a concurrent change; then publish. For features that change
        tickets in their own ways (a checklist item's result)."""
        unchanged: list[Ticket] = []
        with self._lock:
            def work(tx: Tx, staged: dict[str, Ticket]) -> builtins.list[builtins.list[Change]]:
                for _ in range(_RETRIES):
                    current = tx.get(self.site, ticket_id)
                    if current is None:
                        raise TicketNotFound(ticket_id)
                    updated = edit(current)
                    if updated is None:
                        unchanged.append(current)
                        return []
                    try:
                        saved = self._save(tx, staged, Change(updated, updated.history[-1].action), current)
                    except DuplicateActiveTicket:
                        other = tx.find_active(self.site, current.dedup_key)
                        holder = other.id if other else "another ticket"
                        raise TicketConflict(
                            f"Ticket {ticket_id} cannot be reopened: {holder} is already open for the same"
                            " rule and device; work on that one instead."
                        ) from None
                    if saved is not None:
                        return [[saved]]
                raise TicketConflict(f"Ticket {ticket_id} kept changing while saving; try again.")

            done = self._transaction(work)
        return self._local(unchanged[0] if unchanged else done[-1].ticket)

    # -- reading ----------------------------------------------------------------------------------

    def get(self, ticket_id: str) -> Ticket | None:
        with self.store.read() as tx:
            found = tx.get(self.site, ticket_id)
        return self._local(found) if found is not None else None

    def list(self, *, status: str | None = None, device: str | None = None, zone: str | None = None,
             severity: str | None = None, overdue: bool | None = None, source: str | None = None,
             limit: int = 500) -> list[Ticket]:
        """Newest first. `overdue` means a stage's deadline passed as of the last tick()."""
        with self.store.read() as tx:
            found = tx.search(self.site, status=status, device=device, zone=zone, severity=severity,
                              overdue=overdue, source=source, limit=limit)
        return [self._local(t) for t in found]

    def touching(self, since: datetime, until: datetime) -> builtins.list[Ticket]:
        """The tickets a report over [since, until) reads (Tx.touching), in site time."""
        with self.store.read() as tx:
            found = tx.touching(self.site, since, until)
        return [self._local(t) for t in found]

    def open_counts(self) -> dict[str, dict[str, int]]:
        """Active (open or acknowledged) tickets per device and severity, for health scores."""
        with self.store.read() as tx:
            return tx.open_counts(self.site)

    def severity_counts(self) -> dict[str, tuple[int, int]]:
        """Active tickets per severity: (all, overdue as of the last tick), for /metrics."""
        with self.store.read() as tx:
            return tx.severity_counts(self.site)

    def suppressed(self, limit: int = 500) -> builtins.list[dict[str, Any]]:
        """Events muted by inhibition or maintenance windows, newest first, with counts."""
        with self.store.read() as tx:
            rows = tx.suppressions(self.site, limit)
        for row in rows:
            for name in ("first_at", "last_at"):
                row[name] = row[name].astimezone(self.tz).isoformat()
            row.pop("site", None)
        return rows

    # -- plumbing ---------------------------------------------------------------------------------

    def _transaction(
        self, work: Callable[[Tx, dict[str, Ticket]], builtins.list[builtins.list[Change]]]
    ) -> builtins.list[Change]:
        """Run `work(tx, staged)` in one write transaction; then refresh the cache and publish.

        Changes are staged per transaction and reach the cache only after commit, so a rollback
        leaves the cache holding committed tickets only.
        """
        staged: dict[str, Ticket] = {}
        with self.store.write() as tx:
            groups = work(tx, staged)
            # A deadline written here may come before the one tick() remembers (a new ticket, a
            # reopened one): lowered before the commit, so even a commit that fails halfway cannot
            # leave it too late. One moved later only makes a tick look early, for nothing.
            written = tx.earliest_written
            if written is not None and self._next_deadline is not None and written < self._next_deadline:
                self._next_deadline = written
        self.commits += 1
        done = [c for group in groups for c in group]
        for change in done:
            ticket = change.ticket
            if ticket.status in lifecycle.ACTIVE:
                self._cache[ticket.dedup_key] = ticket
            elif self._cache.get(ticket.dedup_key, ticket).seq == ticket.seq:
                self._cache.pop(ticket.dedup_key, None)
        for change in done:
            self.notifier.notify(change)
            self.emergency.notify(change)
        return done

    def _local(self, t: Ticket) -> Ticket:
        """The same ticket with its times in site time, so to_json() shows site time."""
        return localize(t, self.tz)


def _latest(done: list[Change]) -> list[Ticket]:
    latest: dict[int, Ticket] = {}
    for change in done:
        latest[change.ticket.seq] = change.ticket
    return list(latest.values())


def _keys(ev: AlertEvent) -> list[str]:
    """Where the event's ticket may be: under its fault's key, and for a rule that got its `fault`
    label after the store was filled, under the "<rule>:<device>" key its open tickets still have."""
    if ev.dedup_key or ev.key == f"{ev.rule}:{ev.subject}":
        return [ev.key]
    return [ev.key, f"{ev.rule}:{ev.subject}"]


def _facts(t: Ticket) -> Facts:
    return Facts(t.rule, t.device_id, t.zone, t.kind, t.category, t.labels)
