"""Events in the v1 contract, made from plain values: for tests, the load benchmark and demos.

These are what a site gateway publishes (docs/headoffice.md); building them here lets head office be
tested and measured without running site gateways.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

STAGES = ("respond", "arrive", "resolve", "revisit")


def topic(site: str, kind: str) -> str:
    return f"sitegate/{site}/events/{kind}"


def envelope(site: str, event_id: str, etype: str, at: datetime, data: dict[str, Any],
             site_name: str = "") -> dict[str, Any]:
    return {"v": 1, "id": event_id, "site": site, "site_name": site_name or f"Site {site}", "type": etype,
            "at": at.isoformat(), "data": data}


def ticket(ticket_id: str, *, opened_at: datetime, status: str = "open", severity: str = "minor",
           zone: str = "Z1", revision: int = 1, deadlines: dict[str, datetime | None] | None = None,
           done: dict[str, datetime | None] | None = None, source: str = "sensor",
           satisfaction: int | None = None, resolved_by: str | None = None) -> dict[str, Any]:
    """A ticket in the site API's shape with `revision` history entries."""
    deadlines = deadlines or {}
    done = done or {}

    def iso(when: datetime | None) -> str | None:
        return when.isoformat() if when is not None else None

    history = [{"at": iso(opened_at + timedelta(seconds=i)), "actor": "system",
                "action": "opened" if i == 0 else "changed", "note": "", "from": None, "to": status}
               for i in range(revision)]
    pending = [d for s, d in deadlines.items() if d is not None and done.get(s) is None]
    return {
        "id": ticket_id, "rule": "test.rule", "device_id": f"dev-{ticket_id}", "zone": zone, "severity": severity,
        "status": status, "title": f"Ticket {ticket_id}", "opened_at": iso(opened_at),
        "due_at": iso(min(pending)) if pending else None, "occurrences": 1, "assignee": None,
        "history": history, "source": source, "category": "general",
        "deadlines": {s: iso(deadlines.get(s)) for s in STAGES},
        "stages": {s: {"due": iso(deadlines.get(s)), "done_at": iso(done.get(s)), "late": False} for s in STAGES},
        "acknowledged_at": iso(done.get("respond")), "arrived_at": iso(done.get("arrive")),
        "resolved_at": iso(done.get("resolve")), "revisited_at": iso(done.get("revisit")),
        "resolved_by": resolved_by, "satisfaction": satisfaction, "late_stages": [], "reopen_count": 0,
        "revision": revision,
    }


def ticket_event(site: str, data: dict[str, Any], at: datetime, etype: str = "ticket.changed") -> dict[str, Any]:
    return envelope(site, f"{site}/ticket/{data['id']}/{data['revision']}", etype, at, data)


def round_event(site: str, round_id: str, *, scheduled_start: datetime, expected: int, visited: int,
                at: datetime, route: str = "night") -> dict[str, Any]:
    missed = [f"cp-{i}" for i in range(expected - visited)]
    data = {"route": route, "round_id": round_id, "scheduled_start": scheduled_start.isoformat(),
            "status": "completed" if visited == expected else "incomplete", "expected": expected,
            "visited": visited, "missed": missed, "late": 0, "coverage": visited / expected if expected else None}
    return envelope(site, f"{site}/round/{round_id}", "round.finished", at, data)


def device_event(site: str, device: str, *, online: bool, since: datetime, kind: str = "lamp",
                 zone: str = "Z1") -> dict[str, Any]:
    data = {"device": device, "kind": kind, "zone": zone, "online": online, "health": 1.0 if online else 0.0,
            "state": "online" if online else "offline", "healthy": online, "since": since.isoformat()}
    minute = since.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return envelope(site, f"{site}/device/{device}/{minute}", "device.state", since, data)


def health_event(site: str, at: datetime, *, status: str = "ok", timeliness_month: float | None = None,
                 **extra: Any) -> dict[str, Any]:
    minute = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    data = {"status": status, "mqtt": "connected", "timeseries": "ok", "timeliness_month": timeliness_month,
            **extra}
    return envelope(site, f"{site}/health/{minute}", "gateway.health", at, data)


def encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def kind_of(event: dict[str, Any]) -> str:
    return {"ticket": "ticket", "round": "round", "device": "device", "gateway": "health"}[event["type"].split(".")[0]]
