"""`sitegate replay`: recorded traffic through the SAME pipeline and consumers as the live gateway,
on the recorded clock, with no broker (gateway/app/offline.py). Timers (rule `for`, heartbeats,
patrol windows) fire as simulated time passes, at their exact deadlines. Messages recorded at the
same instant go through as one batch. Same input, same output; and the same conclusions as the live
gateway that took the traffic (tests/test_live_vs_replay.py holds a live night to it).
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from pathlib import Path

from gateway.app.offline import OfflineGateway, OfflineResult
from gateway.core.site import Site
from gateway.ingest import capture

ReplayResult = OfflineResult


def replay(capture_file: Path, site: Site, *, until: datetime | None = None) -> OfflineResult:
    messages = list(capture.read(capture_file))
    if not messages:
        return OfflineResult([], [], 0, 0)
    with OfflineGateway(site, messages[0].received_at) as offline:
        for at, batch in groupby(messages, key=lambda m: m.received_at):
            if until is not None and at > until:
                break
            offline.feed(at, [(m.topic, m.payload) for m in batch])
        offline.advance(until if until is not None else offline.clock.now())
        return offline.result()
