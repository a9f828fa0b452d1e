"""A real mosquitto broker for tests: own config, free loopback port, temp dir, stopped after."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Broker:
    port: int
    dir: Path
    extra: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        conf = self.dir / "mosquitto.conf"
        # Running as root, mosquitto drops to the `mosquitto` user unless told otherwise; then it
        # silently cannot write its persistence file in our temp dir.
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "user root\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            f"log_dest file {self.dir}/mosquitto.log\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"{self.extra}\n"
        )
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# What a site should run: deep queues so a restarting gateway loses nothing (see README).
SITE_SETTINGS = ("max_queued_messages 1000000\nmax_queued_bytes 0\nmax_inflight_messages 1000\n"
                 # Without it, small packets wait for Nagle + delayed ACK (~40 ms each way here).
                 "set_tcp_nodelay true\n")


@contextmanager
def mosquitto(tmp: Path, extra: str = SITE_SETTINGS) -> Iterator[Broker]:
    tmp.mkdir(parents=True, exist_ok=True)
    broker = Broker(port=free_port(), dir=tmp, extra=extra)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
