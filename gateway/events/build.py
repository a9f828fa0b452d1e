"""Building events, pure: a conclusion (a ticket as the API shows it, a finished round, a device's
state, the gateway's health) in, an Event with its stable id, topic and JSON payload out.

The id names the conclusion, not the moment it was sent: the same change published twice has the
same id (head office stores it once), and every new change gets a new one (docs/events.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson

VERSION = 1
KINDS = ("ticket", "round", "device", "health")
# A ticket whose status becomes one of these is closed for head office.
ENDED = ("closed", "cancelled")
# Change actions (gateway/tickets/changes.py, emergency.py) that make a ticket more urgent.
ESCALATING = frozenset({"escalated", "severity_raised", "emergency_level"})
# A device is unhealthy in these health bands (gateway/ingest/health.py); degraded is still healthy.
UNHEALTHY_BANDS = frozenset({"faulty", "offline"})


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    tz: tzinfo


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    kind: str  # ticket | round | device | health: the last level of the topic
    type: str
    topic: str
    payload: bytes


def topic(site: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"event kind {kind!r} is not one of {', '.join(KINDS)}")
    return f"sitegate/{site}/events/{kind}"


def event(site: Site, kind: str, type_: str, id_: str, at: datetime, data: Mapping[str, Any]) -> Event:
    """The envelope of every event (contract v1); `at` is shown in site time, with its offset."""
    if at.tzinfo is None:
        raise ValueError(f"event {id_}: its time {at} has no offset")
    body = {"v": VERSION, "id": id_, "site": site.id, "site_name": site.name, "type": type_,
            "at": at.astimezone(site.tz).isoformat(), "data": dict(data)}
    return Event(id_, kind, type_, topic(site.id, kind), orjson.dumps(body))


# -- tickets ----------------------------------------------------------------------------------------

def ticket_type(doc: Mapping[str, Any], change: str) -> str:
    """opened (the creation), closed (the status became closed or cancelled), escalated (a deadline
    escalation, a severity or emergency level raised), changed (anything else)."""
    if change == "opened":
        return "ticket.opened"
    history = doc.get("history") or []
    last = history[-1] if history else {}
    # An occurrence adds no history entry, so the last one may be an old closing: not closed again.
    if (change != "occurrence" and doc.get("status") in ENDED and last.get("to") == doc["status"]
            and last.get("from") not in ENDED):
        return "ticket.closed"
    if change in ESCALATING:
        return "ticket.escalated"
    return "ticket.changed"


def ticket_event(site: Site, doc: Mapping[str, Any], change: str) -> Event:
    """`doc` is the ticket exactly as `GET /api/tickets/{id}` answers it. Its `revision` is the
    store's count of saved changes (every change, history entry or not, raises it by one), so
    `<site>/ticket/<id>/<revision>` is new for every change and the same for a change re-published."""
    data = dict(doc)
    data.pop("change", None)  # the live bus adds what the change was; the type says it here
    if "revision" not in data:
        data["revision"] = len(data.get("history") or [])
    history = data.get("history") or []
    times = [_time(t) for t in (history[-1]["at"] if history else data["opened_at"], data.get("last_seen_at")) if t]
    at = max(times)  # a repeat occurrence adds no history entry: its time is last_seen_at
    id_ = f"{site.id}/ticket/{data['id']}/{data['revision']}"
    return event(site, "ticket", ticket_type(data, change), id_, at, data)


# -- rounds -----------------------------------------------------------------------------------------

ROUND_FINISHED = frozenset({"round_completed", "round_incomplete"})
ROUND_REVISED = "round_revised"
ROUND_FIELDS = ("route", "round_id", "scheduled_start", "status", "expected", "visited", "missed", "late",
                "coverage", "guard")


def round_event(site: Site, round_: Mapping[str, Any], change: str, at: datetime) -> Event | None:
    """A round that finished (or whose figures a late-buffered tap revised), in the
    `GET /api/patrol/rounds` shape; None for the other patrol changes (a tap, a checkpoint missed).

    The first finish is `<site>/round/<round_id>`; a revision gets its own id from its figures, so
    head office sees the corrected coverage and a re-published revision is still stored once."""
    if change not in ROUND_FINISHED and change != ROUND_REVISED:
        return None
    data = {k: v for k, v in round_.items() if k not in ("change", "checkpoint")}
    id_ = f"{site.id}/round/{data['round_id']}"
    if change == ROUND_REVISED:
        id_ += f"/rev-{data['visited']}-{data['late']}-{len(data['missed'])}"
    return event(site, "round", "round.finished", id_, at, data)


# -- devices ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DeviceState:
    """What head office follows of a device: online or not, healthy or not."""

    state: str  # online | offline
    healthy: bool

    @classmethod
    def of(cls, view: Mapping[str, Any]) -> DeviceState | None:
        """From a `GET /api/devices` item; None while nobody knows whether it is online."""
        return cls.of_parts(view.get("online"), view.get("health_band"))

    @classmethod
    def of_parts(cls, online: bool | None, band: str | None) -> DeviceState | None:
        """From a device's online state and health band (what `of` reads in its view)."""
        if online is None:
            return None
        return cls("online" if online else "offline", band not in UNHEALTHY_BANDS)


def device_event(site: Site, view: Mapping[str, Any], state: DeviceState, since: datetime) -> Event:
    """A device whose state or health changed (or is seen for the first time), from its API view."""
    data = {"device": view["id"], "kind": view.get("kind"), "zone": view.get("zone"),
            "online": view.get("online"), "health": view.get("health"), "health_band": view.get("health_band"),
            "health_reasons": list(view.get("health_reasons") or []), "state": state.state,
            "healthy": state.healthy, "since": since.astimezone(site.tz).isoformat(),
            "last_seen": view.get("last_seen")}
    id_ = f"{site.id}/device/{view['id']}/{data['since']}"
    return event(site, "device", "device.state", id_, since, data)


# -- the gateway's health ---------------------------------------------------------------------------

HEALTH_FIGURES = ("open_tickets", "overdue_tickets", "critical_tickets", "devices_total", "devices_offline",
                  "timeliness_month")


def health_event(site: Site, health: Mapping[str, Any], figures: Mapping[str, Any], at: datetime) -> Event:
    """The `/api/health` body plus the figures head office ranks sites by; one id per UTC minute."""
    missing = [name for name in HEALTH_FIGURES if name not in figures]
    if missing:
        raise ValueError(f"health event without {', '.join(missing)}")
    minute = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return event(site, "health", "gateway.health", f"{site.id}/health/{minute}", at, {**health, **figures})


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
