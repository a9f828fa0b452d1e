"""The head-office brokers from the shipped examples (examples/headoffice/*.conf), templated only for
where they listen, where they keep their files, who they run as and how soon a bridge retries.

`sitegate demo --sites N` and the tests start mosquitto with these very files, so what a site copies
is what ran. Every replacement must find its line exactly once: an example that changes under the
code fails loudly here instead of quietly running something else.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.core.paths import headoffice_dir

SITE_BRIDGE = "mosquitto-site-bridge.conf"
HQ = "mosquitto-hq.conf"
# Debian's mosquitto; a source build installs to /usr/local/sbin.
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def mosquitto_binary() -> str | None:
    for path in MOSQUITTO_PATHS:
        if Path(path).exists():
            return path
    return shutil.which("mosquitto")


def render(name: str, replacements: dict[str, str]) -> str:
    text = (headoffice_dir() / name).read_text(encoding="utf-8")
    for old, new in replacements.items():
        found = text.count(old)
        if found != 1:
            raise ValueError(f"{name} has {found} lines with {old!r}; update gateway/app/headoffice_brokers.py")
        text = text.replace(old, new)
    return text


def _common(dir: Path) -> dict[str, str]:
    # As root, Debian's mosquitto drops to the user named here: the folders here are the caller's.
    user = "root" if os.geteuid() == 0 else getpass.getuser()
    return {"user mosquitto": f"user {user}",
            "persistence_location /var/lib/mosquitto/": f"persistence_location {dir}/",
            "log_dest file /var/log/mosquitto/mosquitto.log": f"log_dest file {dir}/mosquitto.log"}


def hq_config(dir: Path, port: int) -> str:
    return render(HQ, {"listener 1883\n": f"listener {port} 127.0.0.1\n", **_common(dir)})


def site_config(dir: Path, port: int, hq_port: int, *, client_id: str | None = None) -> str:
    replacements = {"listener 1883 127.0.0.1": f"listener {port} 127.0.0.1",
                    "address hq.example.net:1883": f"address 127.0.0.1:{hq_port}",
                    # A test or a demo cannot wait for the production backoff (5 s doubling to 60 s).
                    "restart_timeout 5 60": "restart_timeout 1 2", **_common(dir)}
    if client_id is not None:
        replacements["remote_clientid sitegate-bridge-harbor-view"] = f"remote_clientid {client_id}"
    return render(SITE_BRIDGE, replacements)


@dataclass
class ConfBroker:
    """A mosquitto with a given config, stoppable and restartable on the same port and folder."""

    dir: Path
    config: str
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "mosquitto.conf"
        conf.write_text(self.config, encoding="utf-8")
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self._wait_listening(10.0)

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited ({self.proc.returncode}); see {self.dir}/mosquitto.log"
                                       ) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"mosquitto not listening on {self.port} after {timeout:g} s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: mosquitto writes its persistence file on the way out."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def hq_broker(dir: Path, port: int) -> ConfBroker:
    return ConfBroker(dir, hq_config(dir, port), port)


def site_broker(dir: Path, port: int, hq: ConfBroker, *, client_id: str | None = None) -> ConfBroker:
    return ConfBroker(dir, site_config(dir, port, hq.port, client_id=client_id), port)
