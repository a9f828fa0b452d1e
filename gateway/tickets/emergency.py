"""Emergency level by incident class (一级/二级/三级 应急响应): pure functions of a ticket and the
active tickets of its zone, so the same alarms give the same level in the gateway, a replay and a test.

A zone's alarms are one incident: when a second smoke detector goes off in B1 within minutes, both
tickets (the first one's and the new one's) are in class "2 smoke detectors", level 2. A level only
ever rises (a lower number): an incident that calms down keeps the response it was given.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.core.model import UNASSIGNED_ZONE
from gateway.tickets import lifecycle, stages
from gateway.tickets.policy import EmergencyResponse, IncidentClass
from gateway.tickets.ticket import HistoryEntry, Ticket

ACTION = "emergency_level"  # the history action (and Change action) of a level being set or raised


@dataclass(frozen=True, slots=True)
class Source:
    """One thing in alarm: a sensor (device id) or a person's report (who), since `at`."""

    kind: str  # "detector" | "report"
    who: str
    fault: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    level: int
    incident: IncidentClass
    reason: str  # "2 smoke detectors in alarm (dt-b1-01, dt-b1-02) in zone b1"


def is_sensor(t: Ticket) -> bool:
    """A rule's condition stands behind the ticket (a guard's card has no value and no condition)."""
    return t.channel == "sensor" or t.last_value is not None


def sources(t: Ticket) -> list[Source]:
    """What in this ticket is in alarm now: its device while the condition holds, and every person
    who reported it (opened it with a card, or added a report) while it is active."""
    fault = t.labels.get("fault", "")
    if t.status not in lifecycle.ACTIVE or not fault:
        return []
    found: list[Source] = []
    if is_sensor(t) and not t.condition_cleared:
        found.append(Source("detector", t.device_id, fault, t.opened_at))
    for h in t.history:
        if h.action in ("opened", "reported") and h.actor != stages.SYSTEM:
            found.append(Source("report", h.actor, fault, h.at))
    return found


def is_place(zone: str) -> bool:
    """Whether tickets of this zone can be one incident: "unassigned" (a device missing from the
    inventory) is not a place, so two unregistered detectors are not "2 detectors in one zone"."""
    return bool(zone) and zone != UNASSIGNED_ZONE


def classify(ticket: Ticket, zone_active: Sequence[Ticket], classes: Sequence[IncidentClass]) -> Verdict | None:
    """The most serious class (lowest level) the ticket's incident is in, or None.

    `zone_active` are the active tickets of the ticket's zone (with or without the ticket itself).
    A ticket without a place (no zone, or the zone of devices the inventory does not place) is an
    incident of its own.
    """
    fault = ticket.labels.get("fault")
    if not fault or ticket.status not in lifecycle.ACTIVE:
        return None
    pool = {t.seq: t for t in zone_active if is_place(ticket.zone) and t.zone == ticket.zone}
    pool[ticket.seq] = ticket
    best: Verdict | None = None
    for incident in sorted(classes, key=lambda c: c.level):
        if fault not in incident.faults or (best is not None and incident.level >= best.level):
            continue
        verdict = _matches(incident, list(pool.values()), ticket.zone)
        if verdict is not None:
            best = verdict
    return best


def classify_all(active: Sequence[Ticket], classes: Sequence[IncidentClass]) -> dict[int, Verdict]:
    """classify() of every ticket in `active` against the others of its zone, by ticket seq.

    A zone's tickets share one pool, so each incident class is matched once per zone, not once per
    ticket: a zone with n alarms costs n, not n squared (a sensor storm in one zone must not stall
    the tickets of the whole site)."""
    zones: dict[str, list[Ticket]] = {}
    for t in active:
        zones.setdefault(t.zone, []).append(t)
    ordered = sorted(classes, key=lambda c: c.level)
    out: dict[int, Verdict] = {}
    for zone, group in zones.items():
        found: dict[int, Verdict | None] = {}  # id(incident) -> its verdict for this zone
        for t in group:
            fault = t.labels.get("fault")
            if not fault or t.status not in lifecycle.ACTIVE:
                continue
            if not is_place(zone):  # an incident of its own
                if (v := classify(t, (), classes)) is not None:
                    out[t.seq] = v
                continue
            best: Verdict | None = None
            for incident in ordered:
                if fault not in incident.faults or (best is not None and incident.level >= best.level):
                    continue
                if id(incident) not in found:
                    found[id(incident)] = _matches(incident, group, zone)
                if (verdict := found[id(incident)]) is not None:
                    best = verdict
            if best is not None:
                out[t.seq] = best
    return out


def _matches(incident: IncidentClass, pool: list[Ticket], zone: str) -> Verdict | None:
    counted = [t for t in pool if t.labels.get("fault") in incident.faults]
    if incident.with_faults and not any(
            t.labels.get("fault") in incident.with_faults and t.status in lifecycle.ACTIVE
            and not (is_sensor(t) and t.condition_cleared) for t in pool):
        return None
    if incident.labels and not any(all(t.labels.get(k) == v for k, v in incident.labels.items())
                                   for t in counted):
        return None
    earliest: dict[tuple[str, str], Source] = {}
    for s in (s for t in counted for s in sources(t)):
        key = (s.kind, s.who)
        if key not in earliest or s.at < earliest[key].at:
            earliest[key] = s
    ordered = sorted(earliest.values(), key=lambda s: s.at)
    for i, first in enumerate(ordered):
        window = [s for s in ordered[i:] if incident.within is None or s.at - first.at <= incident.within]
        detectors = [s for s in window if s.kind == "detector"]
        reports = [s for s in window if s.kind == "report"]
        if (len(window) >= incident.sources and len(detectors) >= incident.detectors
                and len(reports) >= incident.reports):
            return Verdict(incident.level, incident, _reason(detectors, reports, zone))
        if incident.within is None:
            break  # without a window the first start already holds every source
    return None


def _reason(detectors: list[Source], reports: list[Source], zone: str) -> str:
    parts = []
    if detectors:
        faults = "/".join(sorted({s.fault for s in detectors}))
        word = "detector" if len(detectors) == 1 else "detectors"
        parts.append(f"{len(detectors)} {faults} {word} in alarm ({', '.join(s.who for s in detectors)})")
    if reports:
        faults = "/".join(sorted({s.fault for s in reports}))
        word = "report" if len(reports) == 1 else "reports"
        parts.append(f"{len(reports)} {faults} {word} by {', '.join(s.who for s in reports)}")
    where = f" in zone {zone}" if zone else ""
    return " and ".join(parts) + where


def raises(ticket: Ticket, verdict: Verdict | None) -> bool:
    """Whether the verdict is more serious than the ticket's level (a level never goes down)."""
    return verdict is not None and (ticket.emergency_level is None or verdict.level < ticket.emergency_level)


def with_level(ticket: Ticket, verdict: Verdict, *, at: datetime, response: EmergencyResponse) -> Ticket:
    """A copy of the ticket at the verdict's level, with the history entry that says why."""
    new = copy.copy(ticket)
    new.labels, new.history = dict(ticket.labels), list(ticket.history)
    before = ticket.emergency_level
    new.emergency_level, new.emergency = verdict.level, True
    raised = f" (was level {before})" if before is not None else ""
    note = (f"emergency level {verdict.level} ({response.level_name(verdict.level)}): "
            f"{verdict.incident.name}: {verdict.reason}{raised}")
    new.history.append(HistoryEntry(at=at, actor=stages.SYSTEM, action=ACTION, note=note,
                                    from_status=ticket.status, to_status=ticket.status))
    return new
