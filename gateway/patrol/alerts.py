"""The missed-checkpoint alert of a round: one per round, listing every checkpoint it missed.

A night nobody patrols misses dozens of checkpoints, but a supervisor acts on rounds (who was on
duty, what went unseen), so a round raises one alert, dedup key `patrol.missed:<round id>`, and
restates it whenever its missed list changes: `firing` while any checkpoint is missed (the ticket
takes the latest title, description and labels), `cleared` once late or buffered taps have counted
every missed checkpoint after all (the alert auto-resolves its ticket).

The ticket names the route (`device`), the zone of the first missed checkpoint, the number missed
(`value`) and the missed ids (label `missed`, comma-separated, in route order).
"""

from __future__ import annotations

from datetime import datetime

from gateway.core.model import AlertEvent
from gateway.patrol.model import PatrolPlan
from gateway.patrol.rounds import MISSED, RoundView

RULE = "patrol.missed_checkpoint"


def dedup_key(round_id: str) -> str:
    return f"patrol.missed:{round_id}"


def _hhmm(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M")


def missed_alert(view: RoundView, plan: PatrolPlan, ts: datetime) -> AlertEvent:
    """The round's alert as `view` stands: firing with what it missed, or cleared when nothing is."""
    missed = [c for c in view.checkpoints if c.state == MISSED]
    zones = {c.id: c.zone for c in plan.checkpoints}
    guards = {g.id: g.name for g in plan.guards}
    when = datetime.fromisoformat(view.scheduled_start).strftime("%Y-%m-%d %H:%M")
    count = f"{len(missed)} of {view.expected}"
    names = ", ".join(c.name for c in missed) or "none"
    guard = f"guard {view.guard} {guards.get(view.guard, '')}".rstrip() if view.guard else "nobody tapped"
    lines = [f"- {c.name} ({c.id}, zone {zones.get(c.id, 'unassigned')}): window "
             f"{_hhmm(c.window_from)}-{_hhmm(c.window_to)}" for c in missed]
    labels = {"route": view.route, "round": view.round_id, "missed": ",".join(c.id for c in missed)}
    if view.guard:
        labels["guard"] = view.guard
    first = missed[0].id if missed else view.checkpoints[0].id
    return AlertEvent(
        rule=RULE, device=view.route, zone=zones.get(first, "unassigned"),
        state="firing" if missed else "cleared", severity="minor", ts=ts, category="patrol", kind="route",
        value=len(missed), auto_resolve=True, labels=labels, dedup_key=dedup_key(view.round_id),
        title=f"漏巡 Missed checkpoints: {view.route_name} {when}, {count}: {names}",
        description="\n".join([f"Round {view.round_id} ({guard}): no counted tap inside the window of "
                               f"{count} checkpoints.", *lines]))
