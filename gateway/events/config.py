"""The `events:` section of the site file (on by default): what the gateway tells head office."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from gateway.core.validation import PositiveDuration, Strict


class EventsConfig(Strict):
    enabled: bool = True
    # How often the gateway.health event (health, open/overdue tickets, devices offline) goes out.
    health_interval: PositiveDuration = timedelta(seconds=60)
    # How often device health bands are compared with what head office was last told.
    device_interval: PositiveDuration = timedelta(seconds=5)
    # Sent events are kept this long (for a look after an incident), then pruned.
    keep_sent: PositiveDuration = timedelta(days=1)
    # Unsent events past this many (a very long WAN outage): the oldest health events make room.
    max_unsent: int = Field(default=1_000_000, ge=1000)
    # Events published and waiting for their PUBACK at once.
    window: int = Field(default=200, ge=1, le=10_000)
