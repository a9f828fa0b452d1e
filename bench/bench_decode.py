"""Decode throughput for typical messages: prints decodes per second (target: > 60k/s each).

`--mix N`: instead, decode-only CPU per message over N messages of the demo site's traffic mix (as
bench/profile_ingest.py makes it), each with a fresh topic string as from the MQTT client, 5 passes
(CPU time: steadier than wall time on a shared machine).

Run: .venv/bin/python bench/bench_decode.py [--seconds 2] [--mix 60000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.core.model import RawMessage
from gateway.core.paths import demo_site_dir, devices_dir
from gateway.core.siteload import Overrides, load_site
from gateway.devices.decoder import Decoder
from gateway.devices.loader import load_profiles

NOW = datetime(2026, 11, 20, 10, 10, 5, tzinfo=UTC)
CASES = {
    "zigbee2mqtt smoke detector": RawMessage(
        "zigbee2mqtt/B3-stair-smoke",
        b'{"battery":97,"battery_low":false,"linkquality":132,"smoke":false,"tamper":false,"voltage":3010}',
        NOW),
    "tasmota energy SENSOR": RawMessage(
        "tele/lamp-path-08/SENSOR",
        b'{"Time":"2026-11-20T18:10:06","ENERGY":{"Total":398.0,"Power":31,"Factor":0.89,'
        b'"Voltage":231,"Current":0.151}}',
        NOW),
    "tasmota POWER text": RawMessage("stat/lamp-path-08/POWER", b"ON", NOW),
    "shelly switch status": RawMessage(
        "shellyplus1pm-garage/status/switch:0",
        b'{"id":0,"source":"timer","output":true,"apower":58.2,"voltage":229.8,"current":0.262,'
        b'"aenergy":{"total":1532.441},"temperature":{"tC":41.2,"tF":106.2}}',
        NOW),
    "native telemetry": RawMessage("sitegate/demo/ext-b1-1f-01/telemetry",
                                   b'{"pressure_mpa":1.22,"battery":91}', NOW),
    "unknown topic": RawMessage("some/other/system", b"{}", NOW),
}


def mix(n: int, passes: int = 5) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from profile_ingest import demo_traffic  # a sibling script, needed only here

    with tempfile.TemporaryDirectory() as tmp:
        site = load_site(demo_site_dir() / "site.yaml", Overrides(data=tmp))
    profiles = load_profiles([devices_dir(), *site.devices.profiles])
    decoder = Decoder(profiles, site_id=site.site.id, tz=site.tz, params=site.devices.params)
    traffic = [(m.topic, m.payload, m.ts.astimezone(UTC))
               for m in demo_traffic(site, n, datetime(2026, 12, 1, 19, 30, tzinfo=site.tz))]
    decode = decoder.decode
    runs = []
    for _ in range(passes):
        msgs = [RawMessage(topic.encode().decode(), payload, at) for topic, payload, at in traffic]
        cpu = time.process_time()
        for msg in msgs:
            decode(msg)
        runs.append((time.process_time() - cpu) / len(msgs) * 1e6)
    print(f"demo mix, {len(traffic):,} messages: decode CPU {' '.join(f'{r:.2f}' for r in runs)} us/msg, "
          f"mean {sum(runs) / len(runs):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per case")
    parser.add_argument("--mix", type=int, default=0, help="decode-only CPU on this many demo-mix messages")
    args = parser.parse_args()
    if args.mix:
        mix(args.mix)
        return
    decoder = Decoder(load_profiles([devices_dir()]), site_id="demo", tz=ZoneInfo("Asia/Shanghai"))
    for name, msg in CASES.items():
        decoded = decoder.decode(msg)
        assert not decoded.rejections or name == "unknown topic", decoded.rejections
        decode = decoder.decode
        count, batch = 0, 10_000
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < args.seconds:
            for _ in range(batch):
                decode(msg)
            count += batch
        print(f"{name:30s} {count / elapsed:>10,.0f} decodes/s  ({len(decoded.readings)} readings each)")


if __name__ == "__main__":
    main()
