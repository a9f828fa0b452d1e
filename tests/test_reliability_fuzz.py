"""Bad input through the real broker: 10,000 fuzz cases; nothing crashes, everything is counted by reason.

The 100,000-case run is `.venv/bin/python bench/bench_fuzz.py --cases 100000`.
"""

from __future__ import annotations

from pathlib import Path

from bench.bench_fuzz import SENTINEL, run_fuzz, site_extra
from gateway.devices.decoder import REASONS
from tests.support.gateway_proc import GatewayProcess, write_site
from tests.support.mosquitto import Broker

CASES = 10_000


def test_10000_fuzzed_messages_through_mosquitto_are_all_counted_by_reason_and_nothing_crashes(
        broker: Broker, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", site_id="demo", mqtt_url=broker.url, extra=site_extra())
    gw = GatewayProcess(site)
    gw.start()
    try:
        r = run_fuzz(gw, broker.port, site, CASES, seed_=20261124)
        letters = gw.get("/api/deadletters", limit=10_000)
    finally:
        code = gw.stop()
    print(f"\n{r.sent} messages in {r.seconds:.0f}s ({r.generated_per_s:.0f}/s made), {r.devices} devices, "
          f"{r.deadletters} dead letters listed; rejected by reason {r.rejected}")
    assert r.alive and code == 0
    assert r.health == "ok"
    assert r.publisher_disconnects == 0  # every fuzz case was a valid MQTT publish that the broker took
    assert r.sent == CASES + 1 and r.received == r.sent  # every message counted, the sentinel too
    assert r.rejected == r.expected  # every rejection counted under the reason the decoder gives
    assert set(r.rejected) <= {*REASONS, "device_limit"} and "decode_error" not in r.rejected
    assert {"invalid_json", "not_utf8", "oversize", "unknown_topic", "device_limit"} <= set(r.rejected)
    # Dead letters: the newest first, reasons as counted, and bounded by ingest.deadletter_max
    # ("about" that many: pruning runs every max(100, max/10) letters).
    assert letters[0]["topic"] == SENTINEL[0] and letters[0]["reason"] == "invalid_json"
    assert {d["reason"] for d in letters} <= set(r.rejected)
    assert r.deadletter_max <= r.deadletters <= r.deadletter_max + max(100, r.deadletter_max // 10)
    assert all(len(d["payload"].encode()) <= 3 * 1024 for d in letters)
    assert r.devices <= 100  # ingest.max_devices held against thousands of made-up device ids
