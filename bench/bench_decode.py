"""Decode throughput for typical messages: prints decodes per second (target: > 60k/s each).

Run: .venv/bin/python bench/bench_decode.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.core.model import RawMessage
from gateway.core.paths import devices_dir
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per case")
    args = parser.parse_args()
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
