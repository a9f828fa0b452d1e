"""`sitegate record`: write live broker traffic to a capture file (low volume: aiomqtt)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from gateway.ingest.broker import Broker
from gateway.ingest.capture import encode

log = logging.getLogger("sitegate.record")


async def record(broker: Broker, topics: list[str], out: Path, *, limit: int | None = None,
                 stop: asyncio.Event | None = None) -> int:
    count = 0
    async with aiomqtt.Client(**broker.aiomqtt_options()) as client:
        for topic in topics:
            await client.subscribe(topic, qos=1)
        with out.open("ab") as f:
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                f.write(encode(str(message.topic), payload, datetime.now(UTC).astimezone()))
                f.flush()
                count += 1
                if (limit is not None and count >= limit) or (stop is not None and stop.is_set()):
                    break
    return count
