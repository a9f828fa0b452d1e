"""Node-RED 4 as a benchmark subject: installed into a cache folder, run with a generated flow.

The flow is what a Node-RED user would build for the same job as the gateway's ingest: mqtt-in
(QoS1, persistent session) -> JSON -> switch (a threshold on one field) -> function nodes counting
every message and the switch's matches. An http-in endpoint `/count` reports the counters and the
times (Node-RED's own clock, ms) of the first and the latest counted message, so the bench times the
drain inside Node-RED without its start-up or the polling interval.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

NODE_RED_MAJOR = "4"
CLIENT_ID = "bench-nodered"


def default_cache() -> Path:
    """Outside the repository, so node_modules is never committed and survives between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sitegate-bench" / f"node-red{NODE_RED_MAJOR}"


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"bench_nodered needs Node.js and npm to install and run Node-RED {NODE_RED_MAJOR}; "
            f"not found on PATH: {', '.join(missing)}. Install Node.js 18+ (with npm) and run again.")


def ensure_installed(cache: Path) -> Path:
    """Path of Node-RED's red.js in `cache`, running `npm install` first if it is not there."""
    require("node")
    package = cache / "node_modules" / "node-red" / "package.json"
    if not package.exists() or not installed_version(package).startswith(f"{NODE_RED_MAJOR}."):
        require("node", "npm")
        cache.mkdir(parents=True, exist_ok=True)
        print(f"installing node-red@{NODE_RED_MAJOR} into {cache} (npm) ...", flush=True)
        done = subprocess.run(["npm", "install", "--prefix", str(cache), f"node-red@{NODE_RED_MAJOR}",
                               "--no-audit", "--no-fund"], capture_output=True, text=True)
        if done.returncode != 0 or not package.exists():
            raise SystemExit(f"npm install node-red@{NODE_RED_MAJOR} failed (exit {done.returncode}):\n"
                             f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return package.parent / "red.js"


def installed_version(package: Path) -> str:
    return str(json.loads(package.read_text())["version"])


def flow(broker_port: int, topic: str, field: str, threshold: float) -> list[dict[str, object]]:
    """mqtt-in -> JSON -> switch(payload.<field> > threshold) -> counters, and GET /count.

    Node ids are prefixed: an id equal to a node type (`json`) reads as a circular config reference.
    """
    # One counter object in global context, updated by both branches of the switch.
    count = ("const s = global.get('bench') || {count: 0, matches: 0, first: Date.now(), last: 0};\n"
             "s.count += 1;\n{match}s.last = Date.now();\nglobal.set('bench', s);\nreturn null;")
    return [
        {"id": "b-tab", "type": "tab", "label": "sitegate bench"},
        {"id": "b-broker", "type": "mqtt-broker", "name": "bench broker", "broker": "127.0.0.1",
         "port": str(broker_port), "clientid": CLIENT_ID, "autoConnect": True, "usetls": False,
         "protocolVersion": "4", "keepalive": "60",
         # A persistent session that keeps its subscription when Node-RED stops, so the broker
         # queues the backlog for it (autoUnsubscribe would drop the subscription on shutdown).
         "cleansession": False, "autoUnsubscribe": False,
         "birthTopic": "", "closeTopic": "", "willTopic": ""},
        {"id": "b-in", "type": "mqtt in", "z": "b-tab", "name": "traffic", "topic": topic, "qos": "1",
         "datatype": "utf8", "broker": "b-broker", "nl": False, "rap": True, "rh": 0, "inputs": 0,
         "wires": [["b-json"]]},
        {"id": "b-json", "type": "json", "z": "b-tab", "name": "", "property": "payload", "action": "obj",
         "pretty": False, "wires": [["b-switch"]]},
        {"id": "b-switch", "type": "switch", "z": "b-tab", "name": f"{field} > {threshold}",
         "property": f"payload.{field}", "propertyType": "msg",
         "rules": [{"t": "gt", "v": str(threshold), "vt": "num"}, {"t": "else"}],
         "checkall": "false", "repair": False, "outputs": 2, "wires": [["b-above"], ["b-other"]]},
        {"id": "b-above", "type": "function", "z": "b-tab", "name": "count (above threshold)",
         "func": count.replace("{match}", "s.matches += 1;\n"), "outputs": 0, "wires": []},
        {"id": "b-other", "type": "function", "z": "b-tab", "name": "count",
         "func": count.replace("{match}", ""), "outputs": 0, "wires": []},
        {"id": "b-get", "type": "http in", "z": "b-tab", "name": "", "url": "/count", "method": "get",
         "upload": False, "wires": [["b-report"]]},
        {"id": "b-report", "type": "function", "z": "b-tab", "name": "report", "outputs": 1,
         "func": "msg.payload = global.get('bench') || {count: 0, matches: 0, first: 0, last: 0};\n"
                 "return msg;", "wires": [["b-reply"]]},
        {"id": "b-reply", "type": "http response", "z": "b-tab", "name": "", "statusCode": "", "headers": {},
         "wires": []},
    ]


SETTINGS = """module.exports = {{
    uiHost: "127.0.0.1",
    uiPort: {port},
    userDir: {user_dir},
    flowFile: "flows.json",
    credentialSecret: false,
    httpAdminRoot: false,   // no editor and no admin API: nothing to log in to
    httpNodeRoot: "/",
    logging: {{ console: {{ level: "info", metrics: false, audit: false }} }},
}};
"""


@dataclass
class Counts:
    count: int
    matches: int
    first_ms: int
    last_ms: int

    @property
    def seconds(self) -> float:
        return (self.last_ms - self.first_ms) / 1000


class NodeRed:
    """One Node-RED process on a free port, its user dir (settings, flow, log) in `user_dir`."""

    def __init__(self, red_js: Path, user_dir: Path, http_port: int, flow_nodes: list[dict[str, object]]) -> None:
        self.red_js = red_js
        self.user_dir = user_dir
        self.http_port = http_port
        user_dir.mkdir(parents=True, exist_ok=True)
        self.settings = user_dir / "settings.js"
        self.settings.write_text(SETTINGS.format(port=http_port, user_dir=json.dumps(str(user_dir))))
        (user_dir / "flows.json").write_text(json.dumps(flow_nodes, indent=1))
        self.log_path = user_dir / "node-red.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        """Start and wait until the mqtt-in's broker connection is up (its log line)."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(["node", str(self.red_js), "--settings", str(self.settings),
                                      "--userDir", str(self.user_dir)],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.user_dir)
        log.close()
        deadline = time.monotonic() + timeout
        connected = f"Connected to broker: {CLIENT_ID}@"
        seen = self.log_path.read_text(errors="replace").count(connected)
        while time.monotonic() < deadline:
            if self.log_path.read_text(errors="replace").count(connected) > seen:
                self.counts()  # the flow really runs: its /count endpoint answers (else HTTPError)
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"node-red exited {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.05)
        raise TimeoutError(f"node-red did not connect to the broker in {timeout}s:\n{self.log_tail()}")

    def counts(self) -> Counts:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/count", timeout=10) as reply:
            got = json.loads(reply.read())
        return Counts(int(got["count"]), int(got["matches"]), int(got["first"]), int(got["last"]))

    def cpu_seconds(self) -> float:
        """User + system CPU time of the running Node-RED process so far (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        # SIGINT: Node-RED closes its flows and disconnects cleanly; the session stays on the broker.
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""
