"""The patrol tracker: judges taps and runs rounds. Pure: takes taps and `now`, returns results.

Identification (both real deployments, see the patrol file):
- the tap's reader is a checkpoint's fixed reader -> that checkpoint; the tag must be a guard card;
- the reader is a guard's handheld reader -> that guard; the tag must be a checkpoint tag;
- an unregistered reader reading a checkpoint tag -> that checkpoint, guard unknown;
- an event card -> an observation at the checkpoint just tapped (see below);
- anything else -> `unknown_tag`.

A tap is judged on `tap.ts` (the reader's time), never on its arrival; before judging it the
tracker advances its own clock only to min(tap.ts, now), so a tap in flight is not first declared
missed and then recovered. In this order:
1. `tap.ts` more than `max_skew` after `now`, or more than `max_age` before it: rejected
   (result `off_schedule`, `reason` in the ack, `rejection` set). Not counted.
2. the same reader read the same tag less than `debounce` before or after (reader repeats while a
   card stays in the field, or a double tap): `duplicate`. Not counted.
3. identification fails: `unknown_tag`.
4. no round of a route containing the checkpoint spans tap.ts (see rounds.py): `off_schedule`.
5. in the best matching round (ok > late > early > out_of_order > duplicate, then earliest):
   checkpoint already counted in that round: `duplicate`; ordered route and the tap breaks the
   order of the counted taps (a later checkpoint was counted at or before the tap's time, or an
   earlier one after it): `out_of_order`, not counted; before its window: `early`, not counted (tap
   again inside it); inside its window, edges included: `ok`; after its window but not after the
   round end: `late`, counted as visited and in the round's `late` figure.
   On an ordered route a checkpoint the guard walks past is skipped, not waited for: the ones after
   it count when tapped in order and in their windows, and going back to it is `out_of_order`. Order
   is judged on tap times, so a buffered tap made in order still counts when it arrives late.
A checkpoint not counted when its window ends (plus `settle`, for taps still in flight) is
`missed`. A later `late` tap, or a buffered tap arriving after the miss, counts it after all: state
`late`/`visited` (change `checkpoint_recovered`). The round's one missed-checkpoint AlertEvent
(see alerts.py) waits for the round's end, when a miss is final: it is attached to the step that
ends a round with misses, and to each later step that changes an ended round's missed list.
The round ends `completed` as soon as every checkpoint is counted, else `incomplete` at its end
(+ `settle`), when still-pending checkpoints are missed.
A buffered tap for a round that already ended revises it (change `round_revised`).
A round keeps every tap judged in it. A tap made before taps already judged there (a buffered
reader catching up) has the round judged again from all its taps in the order they were made, so
the anchor, which of two checkpoints tapped the wrong way round counts (the one tapped first), and
the round's guard (who made its first counted tap) are what they would have been had every reader
been online; only the acks already sent said less. A miss already declared stands until a tap
counts the checkpoint. A round is completed when its last checkpoint was tapped, also when a
buffered tap completes it after it had ended incomplete.

Event cards: a tap of an event card within `event_window` after a checkpoint tap on the same
reader (for a fixed reader, the reader's own checkpoint at any time) records an observation at
that checkpoint (in its round, if any) and yields an AlertEvent `patrol.observation.<event>` for the
checkpoint's zone, about the checkpoint's `device` if it names one (else the checkpoint), with the
labels `fault: <event>` and `reported_by: <guard>`: it lands on the ticket of that fault there;
result `ok`. An event card with no checkpoint to attach to: `out_of_order`.

Rounds start (`round_started`) at their scheduled start or at their first counted tap if earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import orjson

from gateway.core.model import AlertEvent, Rejection, Tap
from gateway.patrol.alerts import missed_alert
from gateway.patrol.model import Checkpoint, EventCard, Guard, PatrolPlan, Route, norm_tag
from gateway.patrol.rounds import (
    COMPLETED,
    IN_PROGRESS,
    INCOMPLETE,
    LATE,
    MISSED,
    PENDING,
    SCHEDULED,
    VISITED,
    Round,
    RoundTap,
    RoundView,
    Visit,
)
from gateway.patrol.schedule import next_start, starts_between

_RANK = {"ok": 0, "late": 1, "early": 2, "out_of_order": 3, "duplicate": 4}
_MISSED_LIST_CHANGES = {"checkpoint_missed", "checkpoint_recovered"}
_ROUND_ENDS = {"round_completed", "round_incomplete"}
_ROUND_ENDED = {COMPLETED, INCOMPLETE}
_EPS = timedelta(microseconds=1)
SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class PatrolChange:
    """Something that happened to a round: round_started, checkpoint_missed, checkpoint_recovered,
    round_completed, round_incomplete or round_revised (an ended round changed by a late-arriving tap).
    """

    kind: str
    ts: datetime  # when it happened on the site's timeline (window end, tap time, round end)
    route: str
    round_id: str
    round: RoundView
    checkpoint: str | None = None
    alert: AlertEvent | None = None  # the round's missed-checkpoint alert, when this change moved it

    @property
    def round_fields(self) -> dict[str, int | float]:
        """`patrol_round` fields (expected, visited, late, missed, coverage) after this change."""
        return self.round.round_fields()


@dataclass(frozen=True, slots=True)
class TapOutcome:
    result: str  # ok | late | early | out_of_order | duplicate | unknown_tag | off_schedule
    ts: datetime  # the tap time: the timestamp of the patrol_tap point
    ack_topic: str
    ack: dict[str, Any]
    point_tags: dict[str, str]  # route, checkpoint, guard, result ("" when not known)
    point_fields: dict[str, float | bool]  # on_time, delay_s
    alerts: list[AlertEvent] = field(default_factory=list)  # event-card observations
    changes: list[PatrolChange] = field(default_factory=list)  # rounds the tap (or time) moved
    rejection: Rejection | None = None

    @property
    def ack_payload(self) -> bytes:
        return orjson.dumps(self.ack)

    @property
    def all_alerts(self) -> list[AlertEvent]:
        return [*self.alerts, *(c.alert for c in self.changes if c.alert is not None)]


@dataclass(slots=True)
class _Judged:
    result: str
    checkpoint: Checkpoint | None = None
    guard: str | None = None
    round: Round | None = None
    delay_s: float = 0.0
    event: str | None = None
    reason: str | None = None


def _breaks_order(rnd: Round, checkpoint: str, ts: datetime) -> bool:
    """Whether counting a tap of `checkpoint` at `ts` would put the round's counted taps out of the
    route's order: a checkpoint after it was counted at or before `ts`, or one before it after `ts`."""
    ids = [stop.id for stop in rnd.route.checkpoints]
    position = ids.index(checkpoint)
    for i, cp_id in enumerate(ids):
        tapped = rnd.visits[cp_id].tapped_at
        if not rnd.visits[cp_id].counted or tapped is None or i == position:
            continue
        if (i > position and tapped <= ts) or (i < position and tapped > ts):
            return True
    return False


class PatrolTracker:
    def __init__(self, plan: PatrolPlan, *, tz: tzinfo, site_id: str,
                 debounce: timedelta = timedelta(seconds=30), settle: timedelta = timedelta(seconds=5),
                 max_skew: timedelta = timedelta(minutes=5), max_age: timedelta = timedelta(hours=24),
                 retention: timedelta = timedelta(days=8)) -> None:
        self.plan, self.tz, self.site_id = plan, tz, site_id
        self.debounce, self.settle, self.max_skew, self.max_age = debounce, settle, max_skew, max_age
        self.retention = retention
        self._routes = {r.id: r for r in plan.routes}
        self._cp_by_reader = {c.reader: c for c in plan.checkpoints if c.reader}
        self._cp_by_tag = {c.tag: c for c in plan.checkpoints if c.tag}
        self._guard_by_card = {g.card: g for g in plan.guards if g.card}
        self._guard_by_reader = {g.reader: g for g in plan.guards if g.reader}
        self._cards: dict[str, EventCard] = {e.tag: e for e in plan.event_cards}
        self._checkpoints = {c.id: c for c in plan.checkpoints}
        self._rounds: dict[str, Round] = {}
        self._expanded: dict[str, datetime] = {}  # per route: schedule starts up to here exist
        self._upcoming: dict[str, datetime] = {}  # per route: first start after _expanded (a cache)
        self._now: datetime | None = None
        self._last: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}  # debounce + its ack
        self._context: dict[str, tuple[str, datetime, str | None, str | None]] = {}  # reader -> last cp
        # next_deadline walks every pending checkpoint of every open round, and the pipeline asks for
        # it between runs of every batch: it is kept until a tap, a restore or time changes the rounds.
        self._changes = 0
        self._deadline_memo: tuple[tuple[datetime | None, int], datetime | None] | None = None

    # -- time ---------------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[PatrolChange]:
        """Advance to `now`: open scheduled rounds, declare misses, end rounds. Changes in time order."""
        return self._alerted(self._advance(now.astimezone(UTC)))

    def rounds_in_progress(self) -> int:
        return sum(1 for rnd in self._rounds.values() if not rnd.ended)

    def next_deadline(self) -> datetime | None:
        """The first instant at which tick() will change something (None before the first tick)."""
        if self._now is None:
            return None
        key = (self._now, self._changes)
        if self._deadline_memo is not None and self._deadline_memo[0] == key:
            return self._deadline_memo[1]
        found = self._first_deadline()
        self._deadline_memo = (key, found)
        return found

    def _first_deadline(self) -> datetime | None:
        assert self._now is not None  # next_deadline
        times = [self._next_start(route) - route.early_margin for route in self.plan.routes]
        for rnd in self._rounds.values():
            if rnd.ended:
                continue
            if rnd.status == SCHEDULED:
                times.append(rnd.start)
            for stop in rnd.route.checkpoints:
                if rnd.visits[stop.id].state == PENDING:
                    times.append(rnd.window(stop)[1] + self.settle + _EPS)
            times.append(rnd.end + self.settle + _EPS)
        return max(min(times), self._now) if times else None

    def _advance(self, now: datetime) -> list[PatrolChange]:
        if self._now is not None and now <= self._now:
            return []
        first = self._now is None
        self._now = now
        self._open_rounds(now, first)
        due: list[tuple[datetime, int, str, Round, str | None]] = []
        for rnd in self._rounds.values():
            if rnd.ended:
                continue
            if rnd.status == SCHEDULED and rnd.start <= now:
                due.append((rnd.start, 0, rnd.id, rnd, None))
            for stop in rnd.route.checkpoints:
                closes = rnd.window(stop)[1]
                if rnd.visits[stop.id].state == PENDING and closes + self.settle < now:
                    due.append((closes, 1, rnd.id, rnd, stop.id))
            if rnd.end + self.settle < now:
                due.append((rnd.end, 2, rnd.id, rnd, ""))
        changes: list[PatrolChange] = []
        for when, order, _, rnd, checkpoint in sorted(due, key=lambda d: d[:3]):
            # Re-check each state: an earlier item of this batch may already have moved it.
            if order == 0 and rnd.status == SCHEDULED:
                rnd.status = IN_PROGRESS
                changes.append(self._change("round_started", when, rnd))
            elif order == 1 and checkpoint and rnd.visits[checkpoint].state == PENDING:
                changes.append(self._miss(rnd, checkpoint, when))
            elif order == 2 and not rnd.ended:
                changes.extend(self._end(rnd, when))
        self._prune(now)
        return changes

    def _next_start(self, route: Route) -> datetime:
        if route.id not in self._upcoming:
            self._upcoming[route.id] = next_start(route.schedule, self.tz, self._expanded[route.id])
        return self._upcoming[route.id]

    def _open_rounds(self, now: datetime, first: bool) -> None:
        for route in self.plan.routes:
            # A fresh tracker picks up rounds still running; a restored one resumes where it was.
            after = self._expanded.get(route.id, now - route.span)
            until = now + route.early_margin
            if route.id in self._expanded and until < self._next_start(route):
                self._expanded[route.id] = max(until, after)  # the usual tick: no start in between
                continue
            self._upcoming.pop(route.id, None)
            for start in starts_between(route.schedule, self.tz, after, until):
                rnd = Round.new(route, start, self.tz)
                if first and rnd.start + route.start_grace + route.limit + self.settle < now:
                    continue
                self._rounds.setdefault(rnd.id, rnd)
            self._expanded[route.id] = max(until, after)

    def _miss(self, rnd: Round, checkpoint: str, when: datetime) -> PatrolChange:
        visit = rnd.visits[checkpoint]
        visit.state, visit.missed_at = MISSED, when
        return self._change("checkpoint_missed", when, rnd, checkpoint)

    def _alerted(self, changes: list[PatrolChange]) -> list[PatrolChange]:
        """Attach a round's missed-checkpoint alert to the last change of this step of a round that
        has ended, when the step ended it with misses or moved its missed list: one alert per round
        and step, from that change's view of the round.

        Not before the round ends: until then a late tap still counts a checkpoint whose window has
        passed, so a miss is not final (the round's view shows it at once; a ticket would have to be
        taken back minutes later when the guard, running late, taps it)."""
        moved = {c.round_id for c in changes if c.kind in _MISSED_LIST_CHANGES}
        ended = {c.round_id for c in changes if c.kind in _ROUND_ENDS}
        last = {c.round_id: i for i, c in enumerate(changes) if c.round_id in moved | ended}
        out = list(changes)
        for rid, i in last.items():
            view = out[i].round
            if view is None or view.status not in _ROUND_ENDED:
                continue
            if view.missed or rid in moved:  # misses to report, or a ticket to update or clear
                out[i] = replace(out[i], alert=missed_alert(view, self.plan, out[i].ts))
        return out

    def _end(self, rnd: Round, when: datetime) -> list[PatrolChange]:
        changes = [self._miss(rnd, v.checkpoint, when) for v in rnd.visits.values() if v.state == PENDING]
        rnd.status = COMPLETED if rnd.all_visited else INCOMPLETE
        rnd.ended_at = when
        return [*changes, self._change(f"round_{rnd.status}", when, rnd)]

    def _prune(self, now: datetime) -> None:
        for rid in [rid for rid, r in self._rounds.items() if r.ended and r.end < now - self.retention]:
            del self._rounds[rid]
        horizon = now - self.max_age - self.debounce
        for key in [k for k, (ts, _) in self._last.items() if ts < horizon]:
            del self._last[key]

    # -- taps ---------------------------------------------------------------------------------
    def on_tap(self, tap: Tap, now: datetime) -> TapOutcome:
        self._changes += 1
        now = now.astimezone(UTC)
        ts = tap.ts.astimezone(UTC)
        changes = self._advance(min(ts, now))
        tag = norm_tag(tap.tag)
        alerts: list[AlertEvent] = []
        rejection = None
        if ts > now + self.max_skew or ts < now - self.max_age:
            reason = "tap_in_future" if ts > now else "tap_too_old"
            rejection = Rejection(reason, (
                f"tap of {tag!r} on reader {tap.device!r} is stamped {ts.isoformat()}, "
                f"{abs(ts - now)} from the gateway's clock; check the reader's clock"))
            judged = _Judged("off_schedule", reason=reason)
        elif (dup := self._debounced(tap.device, tag, ts)) is not None:
            judged = dup
        else:
            card = self._cards.get(tag)
            if card is not None:
                judged, alert = self._event_card(tap.device, card, ts)
                alerts += [alert] if alert else []
            else:
                judged = self._judge_checkpoint(tap.device, tag, ts, changes)
        outcome = self._outcome(tap.device, ts, judged, alerts, self._alerted(changes), rejection)
        if judged.result != "duplicate" and rejection is None:
            self._last[(tap.device, tag)] = (ts, outcome.ack)
        return outcome

    def _debounced(self, reader: str, tag: str, ts: datetime) -> _Judged | None:
        last = self._last.get((reader, tag))
        if last is None or abs(ts - last[0]) >= self.debounce:
            return None
        ack = last[1]
        cp = self._checkpoints.get(ack.get("checkpoint") or "")
        return _Judged("duplicate", checkpoint=cp, guard=ack.get("guard"), round=self._rounds.get(
            ack.get("round") or ""), event=ack.get("event"))

    def _identify(self, reader: str, tag: str) -> tuple[Checkpoint | None, Guard | None]:
        if reader in self._cp_by_reader:
            return self._cp_by_reader[reader], self._guard_by_card.get(tag)
        if reader in self._guard_by_reader:
            return self._cp_by_tag.get(tag), self._guard_by_reader[reader]
        return self._cp_by_tag.get(tag), None

    def _judge_checkpoint(self, reader: str, tag: str, ts: datetime,
                          changes: list[PatrolChange]) -> _Judged:
        cp, guard = self._identify(reader, tag)
        guard_id = guard.id if guard else None
        if cp is None or (reader in self._cp_by_reader and guard is None):
            return _Judged("unknown_tag", checkpoint=cp, guard=guard_id)
        best: tuple[tuple[int, datetime], _Judged] | None = None
        for rnd in self._rounds.values():
            if cp.id in rnd.visits and rnd.accepts(ts):
                judged = self._classify(rnd, cp, guard_id, ts)
                key = (_RANK[judged.result], rnd.start)
                if best is None or key < best[0]:
                    best = (key, judged)
        self._context[reader] = (cp.id, ts, best[1].round.id if best and best[1].round else None, guard_id)
        if best is None:
            return _Judged("off_schedule", checkpoint=cp, guard=guard_id)
        judged = best[1]
        chosen = judged.round
        if chosen is None:
            return judged
        made_earlier = any(t.ts > ts for t in chosen.taps)
        chosen.taps.append(RoundTap(ts, cp.id, guard_id))
        if made_earlier:
            # A buffered tap made before taps already judged here: judge the round again in the
            # order its taps were made, so that neither the anchor, nor which of two taps breaks
            # the order, nor who started the round depends on when each reader got through.
            judged, revised = self._rejudge(chosen, len(chosen.taps) - 1)
            changes += revised
        elif judged.result in ("ok", "late"):
            changes += self._count(chosen, cp.id, guard_id, ts, judged)
        return judged

    def _classify(self, rnd: Round, cp: Checkpoint, guard: str | None, ts: datetime) -> _Judged:
        stop = rnd.stop(cp.id)
        anchor = rnd.anchor_for(stop, ts)
        opens, closes = rnd.window(stop, anchor)
        delay = (ts - (anchor + stop.at)).total_seconds()

        def judged(result: str) -> _Judged:
            return _Judged(result, checkpoint=cp, guard=guard, round=rnd, delay_s=delay)

        if rnd.visits[cp.id].counted:
            return judged("duplicate")
        if rnd.route.ordered and _breaks_order(rnd, cp.id, ts):
            return judged("out_of_order")
        if ts < opens:
            return judged("early")
        return judged("ok" if ts <= closes else "late")

    def _count(self, rnd: Round, checkpoint: str, guard: str | None, ts: datetime,
               judged: _Judged) -> list[PatrolChange]:
        """Count a tap made after every tap judged in the round so far."""
        changes = []
        if rnd.anchor is None:
            rnd.anchor = rnd.anchor_for(rnd.stop(checkpoint), ts)
        was_ended = rnd.ended
        if rnd.status == SCHEDULED:
            rnd.status = IN_PROGRESS
            changes.append(self._change("round_started", ts, rnd))
        recovered = rnd.visits[checkpoint].state == MISSED
        self._apply(rnd, checkpoint, guard, ts, judged)
        if recovered:
            changes.append(self._change("checkpoint_recovered", ts, rnd, checkpoint))
        if rnd.all_visited and rnd.status != COMPLETED:
            rnd.status = COMPLETED
            # Complete when its last checkpoint was tapped, even if it had ended incomplete before
            # that tap arrived: the round is judged on the readers' time.
            rnd.ended_at = ts
            changes.append(self._change("round_revised" if was_ended else "round_completed", ts, rnd))
        elif was_ended:
            changes.append(self._change("round_revised", ts, rnd))
        return changes

    @staticmethod
    def _apply(rnd: Round, checkpoint: str, guard: str | None, ts: datetime, judged: _Judged) -> None:
        """A counted tap: the round's anchor if it is the first, the visit, the round's guard."""
        if rnd.anchor is None:
            rnd.anchor = rnd.anchor_for(rnd.stop(checkpoint), ts)
        visit: Visit = rnd.visits[checkpoint]
        visit.state = VISITED if judged.result == "ok" else LATE
        visit.tapped_at, visit.guard, visit.delay_s = ts, guard, judged.delay_s
        rnd.guard = rnd.guard or guard

    def _rejudge(self, rnd: Round, index: int) -> tuple[_Judged, list[PatrolChange]]:
        """Judge `rnd` again from all its taps in the order they were made (ties in arrival order), as
        if every reader had been online, up to the tracker's present; return the judgement of its tap
        `index` and the changes against how the round stood (misses, recoveries, its end)."""
        now = self._now
        assert now is not None  # on_tap advanced the clock first
        before, was = rnd.view(self.plan, self.tz), rnd.status
        declared = {v.checkpoint: v.missed_at for v in rnd.visits.values() if v.state == MISSED}
        rnd.anchor = rnd.guard = rnd.ended_at = None
        for visit in rnd.visits.values():
            visit.state, visit.tapped_at, visit.guard, visit.delay_s, visit.missed_at = PENDING, None, None, None, None
        mine = None
        for i in sorted(range(len(rnd.taps)), key=lambda i: rnd.taps[i].ts):
            tap = rnd.taps[i]
            judged = self._classify(rnd, self._checkpoints[tap.checkpoint], tap.guard, tap.ts)
            if judged.result in ("ok", "late"):
                self._apply(rnd, tap.checkpoint, tap.guard, tap.ts, judged)
            if i == index:
                mine = judged
        assert mine is not None
        # What time has already decided, by the same rules as _advance; a miss already declared
        # stands until a tap counts the checkpoint (a later anchor would only declare it again).
        for stop in rnd.route.checkpoints:
            visit, closes = rnd.visits[stop.id], rnd.window(stop)[1]
            if visit.state == PENDING and (stop.id in declared or closes + self.settle < now):
                visit.state, visit.missed_at = MISSED, declared.get(stop.id) or closes
        if rnd.all_visited:
            rnd.status, rnd.ended_at = COMPLETED, max(v.tapped_at for v in rnd.visits.values() if v.tapped_at)
        elif rnd.end + self.settle < now:
            rnd.status, rnd.ended_at = INCOMPLETE, rnd.end
        else:
            rnd.status = SCHEDULED if was == SCHEDULED and rnd.anchor is None else IN_PROGRESS
        ts = rnd.taps[index].ts
        changes = []
        if was == SCHEDULED and rnd.status != SCHEDULED:
            changes.append(self._change("round_started", ts, rnd))
        states = {c.id: c.state for c in before.checkpoints}
        for stop in rnd.route.checkpoints:
            visit = rnd.visits[stop.id]
            if states[stop.id] == MISSED and visit.counted:
                changes.append(self._change("checkpoint_recovered", ts, rnd, stop.id))
            elif states[stop.id] != MISSED and visit.state == MISSED:
                changes.append(self._change("checkpoint_missed", visit.missed_at or ts, rnd, stop.id))
        if rnd.ended and was not in (COMPLETED, INCOMPLETE):
            changes.append(self._change(f"round_{rnd.status}", rnd.ended_at or ts, rnd))
        elif was in (COMPLETED, INCOMPLETE) and rnd.view(self.plan, self.tz) != before:
            changes.append(self._change("round_revised", ts, rnd))
        return mine, changes

    def _event_card(self, reader: str, card: EventCard, ts: datetime) -> tuple[_Judged, AlertEvent | None]:
        context = self._context.get(reader)
        recent = context is not None and timedelta(0) <= ts - context[1] <= self.plan.event_window
        fixed = self._cp_by_reader.get(reader)
        if fixed is not None:
            cp_id = fixed.id
            same = recent and context is not None and context[0] == cp_id
            round_id, guard = (context[2], context[3]) if same and context is not None else (None, None)
        elif recent and context is not None:
            cp_id, _, round_id, guard = context
        else:
            return _Judged("out_of_order", event=card.event), None
        if guard is None and reader in self._guard_by_reader:
            guard = self._guard_by_reader[reader].id
        cp = self._checkpoints[cp_id]
        rnd = self._rounds.get(round_id) if round_id else None
        if rnd is not None:
            local_ts = ts.astimezone(self.tz).isoformat()
            rnd.visits[cp_id].observations.append({"event": card.event, "ts": local_ts, "guard": guard})
        # `fault` and the device make the report land on the ticket of the same fault there (the
        # tickets feature adds it as an occurrence); `reported_by` puts the guard in its history.
        labels = {"checkpoint": cp_id, "event": card.event, "guard": guard or "", "reader": reader,
                  "fault": card.event, "reported_by": guard or f"guard with reader {reader}"}
        if rnd is not None:
            labels |= {"route": rnd.route.id, "round": rnd.id}
        alert = AlertEvent(
            rule=f"patrol.observation.{card.event}", device=cp.device or cp_id, zone=cp.zone, state="firing",
            severity=card.effective_severity, ts=ts, category="patrol", kind="checkpoint", labels=labels,
            title=f"巡逻发现 Patrol observation: {card.name or card.event} @ {cp.label}",
            description=f"Reported by guard {guard or 'unknown'} with event card {card.tag} at {cp.label}.")
        return _Judged("ok", checkpoint=cp, guard=guard, round=rnd, event=card.event), alert

    # -- results ------------------------------------------------------------------------------
    def _outcome(self, reader: str, ts: datetime, judged: _Judged, alerts: list[AlertEvent],
                 changes: list[PatrolChange], rejection: Rejection | None) -> TapOutcome:
        cp = judged.checkpoint.id if judged.checkpoint else None
        route = judged.round.route.id if judged.round else None
        rid = judged.round.id if judged.round else None
        ack: dict[str, Any] = {"result": judged.result, "checkpoint": cp, "route": route, "round": rid,
                               "guard": judged.guard, "delay_s": round(judged.delay_s, 3)}
        if judged.event:
            ack["event"] = judged.event
        if judged.reason:
            ack["reason"] = judged.reason
        return TapOutcome(
            result=judged.result, ts=ts, ack_topic=f"sitegate/{self.site_id}/{reader}/ack", ack=ack,
            point_tags={"route": route or "", "checkpoint": cp or "", "guard": judged.guard or "",
                        "result": judged.result},
            point_fields={"on_time": judged.result == "ok" and judged.event is None,
                          "delay_s": float(judged.delay_s)},
            alerts=alerts, changes=changes, rejection=rejection)

    def _change(self, kind: str, ts: datetime, rnd: Round, checkpoint: str | None = None) -> PatrolChange:
        return PatrolChange(kind=kind, ts=ts, route=rnd.route.id, round_id=rnd.id,
                            round=rnd.view(self.plan, self.tz), checkpoint=checkpoint)

    # -- reading ------------------------------------------------------------------------------
    def rounds(self, day: date) -> list[RoundView]:
        """Rounds whose scheduled start falls on site-local `day`, including ones still to come."""
        found = [r for r in self._rounds.values() if r.start.astimezone(self.tz).date() == day]
        if self._now is not None:
            lo = datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC) - timedelta(hours=3)
            for route in self.plan.routes:
                for start in starts_between(route.schedule, self.tz, max(lo, self._expanded[route.id]),
                                            lo + timedelta(hours=30)):
                    if start.date() == day:
                        found.append(Round.new(route, start, self.tz))
        found.sort(key=lambda r: (r.start, r.route.id))
        return [r.view(self.plan, self.tz) for r in found]

    def round(self, round_id: str) -> RoundView | None:
        rnd = self._rounds.get(round_id)
        return rnd.view(self.plan, self.tz) if rnd else None

    # -- persistence --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state; restore() on a tracker with the same plan continues from it."""
        return {
            "version": SNAPSHOT_VERSION, "site": self.site_id,
            "now": self._now.isoformat() if self._now else None,
            "expanded": {k: v.isoformat() for k, v in self._expanded.items()},
            "rounds": [r.dump() for r in self._rounds.values()],
            "last": [[reader, tag, ts.isoformat(), ack] for (reader, tag), (ts, ack) in self._last.items()],
            "context": {k: [cp, ts.isoformat(), rid, g] for k, (cp, ts, rid, g) in self._context.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Replace this tracker's state with a snapshot; rounds of routes no longer planned are dropped."""
        self._changes += 1
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"patrol snapshot version {state.get('version')!r} is not "
                             f"{SNAPSHOT_VERSION}; delete the snapshot file to start afresh.")
        def parse(value: str) -> datetime:
            return datetime.fromisoformat(value).astimezone(UTC)
        self._now = parse(state["now"]) if state["now"] else None
        self._expanded = {k: parse(v) for k, v in state["expanded"].items() if k in self._routes}
        self._upcoming = {}
        if self._now is not None:  # routes added since the snapshot start from now
            for route_id in self._routes.keys() - self._expanded.keys():
                self._expanded[route_id] = self._now
        self._rounds = {item["id"]: Round.load(item, self._routes[item["route"]])
                        for item in state["rounds"] if item["route"] in self._routes}
        self._last = {(reader, tag): (parse(ts), dict(ack)) for reader, tag, ts, ack in state["last"]}
        self._context = {k: (cp, parse(ts), rid, g) for k, (cp, ts, rid, g) in state["context"].items()}
