"""`sitegate record`: write live broker traffic to a capture file (low volume: aiomqtt)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import aiomqtt

from gateway.ingest.capture import encode

log = logging.getLogger("sitegate.record")


async def record(url: str, topics: list[str], out: Path, *, limit: int | None = None,
                 stop: asyncio.Event | None = None) -> int:
    parsed = urlparse(url)
    tls = parsed.scheme == "mqtts"
    count = 0
    async with aiomqtt.Client(parsed.hostname or "127.0.0.1", parsed.port or (8883 if tls else 1883),
                              username=parsed.username, password=parsed.password,
                              tls_params=aiomqtt.TLSParameters() if tls else None) as client:
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
