"""Run `sitegate run` as a real process (so tests can kill -9 it) and talk to its API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.support.mosquitto import free_port


def write_site(dir: Path, *, site_id: str, mqtt_url: str, extra: str = "") -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    site = dir / "site.yaml"
    site.write_text(
        f"site: {{id: {site_id}, name: Test 测试, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}}\n"
        f"mqtt: {{url: \"{mqtt_url}\"}}\n"
        f"http: {{listen: \"127.0.0.1:{free_port()}\"}}\n"
        f"storage: {{path: {dir / 'data'}}}\n"
        f"{extra}")
    return site


class GatewayProcess:
    def __init__(self, site: Path, http_port: int | None = None, env: dict[str, str] | None = None,
                 args: Sequence[str] = (), log: Path | None = None) -> None:
        self.site = site
        self.port = http_port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)  # more `sitegate run` options (--data, --mqtt-url, the timeline's)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log or site.parent / "gateway.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(self.site),
                 "--http", f"127.0.0.1:{self.port}", "--log-level", os.environ.get("SITEGATE_TEST_LOG", "info"),
                 *self.args],
                stdout=log, stderr=log, env=self.env)
        wait_for(lambda: self.get("/api/health")["mqtt"] == "connected", 30, "gateway connected")

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body or {}, timeout=10)

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


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it answers something truthy, and return that; a failing check (server not up
    yet, an answer without the key yet) counts as not yet."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout}s for {what}; last error: {last}")
