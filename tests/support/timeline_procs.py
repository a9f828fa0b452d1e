"""Helpers for tests that run `sitegate run`, `simulate` and `record` as separate processes on one
accelerated timeline (tests/test_live_vs_replay.py, tests/support/demo_capture.py)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway_proc import GatewayProcess


def sitegate(*args: str) -> list[str]:
    """The command line of a `sitegate` subcommand in this interpreter."""
    return [sys.executable, "-m", "gateway", *args]


def timeline(start: datetime, speed: float, end: datetime, anchor: float) -> list[str]:
    """The TIMELINE options every process of one run shares."""
    return ["--start", start.isoformat(), "--speed", str(speed), "--real-start", f"{anchor:.6f}",
            "--until", end.isoformat()]


def count_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip()) if path.exists() else 0


def messages_received(gw: GatewayProcess) -> int:
    """`sitegate_messages_received_total` from the gateway's /metrics (-1 if absent)."""
    found = re.search(r"^sitegate_messages_received_total (\S+)$", httpx.get(gw.url + "/metrics", timeout=10).text,
                      re.MULTILINE)
    return int(float(found.group(1))) if found else -1


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
