"""Run `sitegate hq` as a real process (so tests can kill -9 it) and talk to its API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway_proc import wait_for
from tests.support.mosquitto import free_port


def write_hq(dir: Path, *, mqtt_url: str, sites: Sequence[str] = (), extra: str = "") -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    path = dir / "hq.yaml"
    listed = "".join(f"  - {{id: {s}, name: 站点 {s}, dashboard: \"http://127.0.0.1:9/{s}/\"}}\n" for s in sites)
    path.write_text(
        "hq: {id: test-hq, name: 总部 Test HQ, timezone: Asia/Shanghai}\n"
        f"mqtt: {{url: \"{mqtt_url}\"}}\n"
        f"storage: {{path: {dir / 'data'}}}\n"
        + (f"sites:\n{listed}" if sites else "") + extra)
    return path


class HqProcess:
    def __init__(self, config: Path, replica: str, *, database: str | None = None, args: Sequence[str] = (),
                 log: Path | None = None) -> None:
        self.config = config
        self.replica = replica
        self.port = free_port()
        self.database = database
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log or config.parent / f"hq-{replica}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_for(lambda: self.get("/api/health")["mqtt"] == "connected", 30, f"hq replica {self.replica} connected")

    def launch(self) -> None:
        """Start the process without waiting for it to connect."""
        db = ["--database", self.database] if self.database else []
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "hq", "--config", str(self.config), "--replica", self.replica,
                 "--http", f"127.0.0.1:{self.port}", "--log-level", os.environ.get("SITEGATE_TEST_LOG", "info"),
                 *db, *self.args], stdout=log, stderr=log)

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9
