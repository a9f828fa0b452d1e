"""`sitegate record`: write live broker traffic to a capture file (low volume: aiomqtt).

Each message is stamped with its arrival on `clock` (default: the wall clock). Given the site clock
a gateway runs on, the capture carries the same times that gateway stamped, up to the difference in
delivery between the two subscribers, so a replay of it judges the night as the gateway did.

Stamps are written in the site's timezone (`tz`), the way devices stamp their own messages
(`2026-11-23T21:03:11+08:00`), so a capture reads in site time whatever machine recorded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import aiomqtt

from gateway.core.clock import Clock
from gateway.ingest.broker import Broker
from gateway.ingest.capture import encode

log = logging.getLogger("sitegate.record")


async def record(broker: Broker, topics: list[str], out: Path, *, limit: int | None = None,
                 stop: asyncio.Event | None = None, clock: Clock | None = None,
                 counter: list[int] | None = None, tz: tzinfo | None = None) -> int:
    """Append what arrives on `topics` to `out` until `limit` messages or `stop`; returns the count.
    `counter[0]` follows the count as it goes (for a caller that cancels this). `tz`: the site's
    timezone the stamps are written in (default: the recording machine's)."""
    count = 0
    counter = counter if counter is not None else [0]

    def stamp() -> datetime:
        now = clock.now() if clock is not None else datetime.now(UTC)
        return now.astimezone(tz)  # tz None: the machine's local zone

    async with aiomqtt.Client(**broker.aiomqtt_options()) as client:
        # One SUBSCRIBE for every filter: once a retained message arrives, all of them are in place.
        await client.subscribe([(topic, 1) for topic in topics])
        with out.open("ab") as f:
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                f.write(encode(str(message.topic), payload, stamp()))
                f.flush()
                count += 1
                counter[0] = count
                if (limit is not None and count >= limit) or (stop is not None and stop.is_set()):
                    break
    return count


async def record_until_signal(broker: Broker, topics: list[str], out: Path, *, limit: int | None = None,
                              clock: Clock | None = None, tz: tzinfo | None = None) -> int:
    """`record` until `limit`, SIGINT or SIGTERM: a signal ends it between two messages (every line
    written is whole and flushed) and it still returns the count."""
    counter = [0]
    task = asyncio.ensure_future(record(broker, topics, out, limit=limit, clock=clock, counter=counter,
                                               tz=tz))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
    return counter[0]
