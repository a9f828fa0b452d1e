"""The head-office brokers from the shipped examples (examples/headoffice/*.conf), templated only for
where they listen, where they keep their files, who they run as and how soon a bridge retries.

Every replacement must find its line exactly once: an example that changes under the tests fails
here loudly instead of quietly testing something else.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.mosquitto import MOSQUITTO, free_port, wait_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "headoffice"
SITE_BRIDGE = "mosquitto-site-bridge.conf"
HQ = "mosquitto-hq.conf"


def render(name: str, replacements: dict[str, str]) -> str:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    for old, new in replacements.items():
        found = text.count(old)
        assert found == 1, f"{name} has {found} lines with {old!r}; update tests/support/headoffice.py with it"
        text = text.replace(old, new)
    return text


def _common(dir: Path) -> dict[str, str]:
    # As root, Debian's mosquitto drops to the user named here: the temp folders are root's.
    user = "root" if os.geteuid() == 0 else getpass.getuser()
    return {"user mosquitto": f"user {user}",
            "persistence_location /var/lib/mosquitto/": f"persistence_location {dir}/",
            "log_dest file /var/log/mosquitto/mosquitto.log": f"log_dest file {dir}/mosquitto.log"}


def hq_config(dir: Path, port: int) -> str:
    return render(HQ, {"listener 1883\n": f"listener {port} 127.0.0.1\n", **_common(dir)})


def site_config(dir: Path, port: int, hq_port: int, *, client_id: str | None = None) -> str:
    replacements = {"listener 1883 127.0.0.1": f"listener {port} 127.0.0.1",
                    "address hq.example.net:1883": f"address 127.0.0.1:{hq_port}",
                    # A test cannot wait for the production backoff (5 s doubling to 60 s).
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
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "mosquitto.conf"
        conf.write_text(self.config, encoding="utf-8")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

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


def hq_broker(dir: Path) -> ConfBroker:
    port = free_port()
    return ConfBroker(dir, hq_config(dir, port), port)


def site_broker(dir: Path, hq: ConfBroker, *, client_id: str | None = None) -> ConfBroker:
    port = free_port()
    return ConfBroker(dir, site_config(dir, port, hq.port, client_id=client_id), port)
