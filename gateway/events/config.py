"""The `events:` section of the site file (on by default): what the gateway tells head office."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from gateway.core.validation import PositiveDuration, Strict, problem


class EventsConfig(Strict):
    enabled: bool = True
    # How often the gateway.health event (health, open/overdue tickets, devices offline) goes out.
    # Its id is per UTC minute, so a minute is the shortest interval that means anything.
    health_interval: PositiveDuration = timedelta(seconds=60)
    # How often device health bands are compared with what head office was last told.
    device_interval: PositiveDuration = timedelta(seconds=5)
    # Sent events are kept this long (for a look after an incident), then pruned.
    keep_sent: PositiveDuration = timedelta(days=1)
    # Unsent events past this many (a very long WAN outage): the oldest health events make room.
    max_unsent: int = Field(default=1_000_000, ge=1000)
    # Events published and waiting for their PUBACK at once.
    window: int = Field(default=200, ge=1, le=10_000)

    @field_validator("health_interval")
    @classmethod
    def _at_least_a_minute(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise problem("health_interval must be at least 1m: a health event's id is its UTC minute, so "
                          "head office keeps one per minute anyway.")
        return value
