"""The site -> head office event contract (v1), pure: topic and payload in, a checked `FleetEvent`
or the reason it was refused out.

Topic `sitegate/<site>/events/<kind>` (kind: ticket, round, device, health), QoS 1. Payload:
`{"v": 1, "id", "site", "site_name", "type", "at", "data"}` (docs/headoffice.md). Events may arrive
twice and out of order: the id makes the first idempotent, the ticket's `revision` the second.
Senders may add fields; none is ever renamed, so unknown keys pass through untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

VERSION = 1
TOPIC = re.compile(r"^sitegate/([^/+#]+)/events/([^/+#]+)$")
SUBSCRIPTION = "sitegate/+/events/#"
# Which types travel under which topic kind.
TYPES: dict[str, frozenset[str]] = {
    "ticket": frozenset({"ticket.opened", "ticket.changed", "ticket.escalated", "ticket.closed"}),
    "round": frozenset({"round.finished"}),
    "device": frozenset({"device.state"}),
    "health": frozenset({"gateway.health"}),
}
MAX_ID = 300


class BadEvent(ValueError):
    """The message is not a v1 event; the message says what is wrong (kept as the dead letter's reason)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason  # a short label for the metrics: bad_json, bad_topic, bad_field, ...


@dataclass(frozen=True, slots=True)
class FleetEvent:
    id: str
    site: str
    site_name: str
    kind: str  # ticket | round | device | health
    type: str
    at: datetime
    data: dict[str, Any]
    raw: bytes  # the payload as received, stored as is

    @property
    def ticket_id(self) -> str:
        return str(self.data["id"])

    @property
    def revision(self) -> int:
        """The ticket's revision: `data.revision`, else its number of history entries (the contract)."""
        given = self.data.get("revision")
        return given if isinstance(given, int) else len(self.data.get("history") or [])


def parse_event(topic: str, payload: bytes) -> FleetEvent:
    """The event on `topic`, or BadEvent saying why not."""
    found = TOPIC.match(topic)
    if found is None:
        raise BadEvent("bad_topic", f"topic {topic!r} is not sitegate/<site>/events/<kind>")
    topic_site, kind = found[1], found[2]
    if kind not in TYPES:
        raise BadEvent("bad_topic", f"topic {topic!r}: kind {kind!r} is not one of {', '.join(TYPES)}")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BadEvent("bad_json", f"payload is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BadEvent("bad_json", "payload is not a JSON object")
    if doc.get("v") != VERSION:
        raise BadEvent("bad_version", f"event version {doc.get('v')!r} is not {VERSION}")
    event_id, site, etype = _text(doc, "id"), _text(doc, "site"), _text(doc, "type")
    if site != topic_site:
        raise BadEvent("bad_field", f"site {site!r} differs from the topic's site {topic_site!r}")
    if etype not in TYPES[kind]:
        raise BadEvent("bad_field", f"type {etype!r} does not travel on topic kind {kind!r} "
                                    f"(expected one of {', '.join(sorted(TYPES[kind]))})")
    at = _time(doc.get("at"), "at")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise BadEvent("bad_field", "data is missing or not an object")
    _check_data(kind, data)
    name = doc.get("site_name")
    return FleetEvent(event_id, site, name if isinstance(name, str) else "", kind, etype, at, data, payload)


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
        raise BadEvent("bad_field", f"{key} is missing or not a text of 1-{MAX_ID} characters")
    return value


def _time(value: Any, key: str) -> datetime:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise BadEvent("bad_field", f"{key} {value!r} is not an ISO 8601 time with its offset")
    return when


def _check_data(kind: str, data: dict[str, Any]) -> None:
    if kind == "ticket":
        _text(data, "id")
        for key in ("status", "severity"):
            _text(data, key)
        if "revision" in data and not isinstance(data["revision"], int):
            raise BadEvent("bad_field", "data.revision is not a whole number")
        if not isinstance(data.get("history", []), list):
            raise BadEvent("bad_field", "data.history is not a list")
        _time(data.get("opened_at"), "data.opened_at")
    elif kind == "round":
        _text(data, "round_id")
        _time(data.get("scheduled_start"), "data.scheduled_start")
        for key in ("expected", "visited"):
            if not isinstance(data.get(key), int) or data[key] < 0:
                raise BadEvent("bad_field", f"data.{key} is not a whole number >= 0")
    elif kind == "device":
        _text(data, "device")
        _time(data.get("since"), "data.since")
