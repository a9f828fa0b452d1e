"""A real VictoriaMetrics for tests: free loopback port, data in a temp dir, stopped after.

It takes InfluxDB line protocol on `/api/v2/write` (any token, org, bucket) and answers
`/api/v1/export` with one JSON object per series: `measurement_field` as `__name__`, tags as
labels, booleans as 1/0, millisecond timestamps. Debian's 1.79.5 stores a string field as a number
(the string parsed as one, else 0). It keeps duplicate samples unless started with `-dedup.minScrapeInterval`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.mosquitto import free_port, wait_port

VICTORIA = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


@dataclass
class Victoria:
    dir: Path
    port: int
    dedup: bool = False
    proc: subprocess.Popen[bytes] | None = None
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_file = self.dir / "victoria.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [VICTORIA, f"-storageDataPath={self.dir / 'data'}", f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y", "-loggerLevel=WARN", "-search.disableCache",
                "-search.latencyOffset=0s"]
        if self.dedup:
            args.append("-dedup.minScrapeInterval=1ms")
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout=20)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, Any]]:
        """Every series matching `match`, after making recent writes searchable."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()
        r = httpx.post(f"{self.url}/api/v1/export", data={"match[]": match, "start": "0"}, timeout=30)
        r.raise_for_status()
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]

    def count(self, match: str = '{__name__=~".+"}') -> int:
        return sum(len(s["values"]) for s in self.export(match))

    def wait_count(self, expected: int, match: str = '{__name__=~".+"}', timeout: float = 30.0) -> int:
        """Poll until at least `expected` samples are searchable (new series show up with a short
        delay even after force_flush); answers the last count seen."""
        deadline = time.monotonic() + timeout
        n = self.count(match)
        while n < expected and time.monotonic() < deadline:
            time.sleep(0.2)
            n = self.count(match)
        return n


@contextmanager
def victoria(tmp: Path, *, dedup: bool = False) -> Iterator[Victoria]:
    tmp.mkdir(parents=True, exist_ok=True)
    vm = Victoria(dir=tmp, port=free_port(), dedup=dedup)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
