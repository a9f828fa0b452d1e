"""`sitegate demo --sites N`: a head office and N demo sites on this machine, wired the way a company
wires them (docs/deployment.md): each site has its own mosquitto, bridged with the shipped config
(examples/headoffice/mosquitto-site-bridge.conf) to the head-office mosquitto; each site runs its
gateway and its simulator (a different night of faults per site) on an accelerated site clock; one
`sitegate hq` replica (SQLite) takes the sites' events and serves the fleet page.

Every part is a real process started with the same commands a deployment uses, so the demo shows
what production does, bridge queues included. It needs mosquitto (the embedded demo broker cannot
bridge nor share subscriptions).
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path
from typing import IO

import yaml

from gateway.app.headoffice_brokers import ConfBroker, hq_broker, mosquitto_binary, site_broker
from gateway.app.simulator.engine import evening_start
from gateway.core.paths import demo_site_dir
from gateway.core.siteload import Overrides, load_site

# The demo compounds: the first is the single-site demo's; the others reuse its layout under their own
# names (a company often builds several compounds from one design).
NAMES = [("harbor-view", "海景花园 Harbor View"), ("river-park", "江畔公园 River Park"),
         ("hill-court", "山景苑 Hill Court"), ("lake-garden", "湖畔花园 Lake Garden"),
         ("east-tower", "东方大厦 East Tower"), ("pine-hill", "松山苑 Pine Hill")]
MAX_SITES = 9


@dataclass
class Part:
    """One process of the demo, with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]


def site_names(n: int) -> list[tuple[str, str]]:
    if not 1 <= n <= MAX_SITES:
        raise ValueError(f"--sites takes 1 to {MAX_SITES} sites on one machine, not {n}")
    extra = [(f"site-{i}", f"演示小区 {i} Demo site {i}") for i in range(len(NAMES) + 1, MAX_SITES + 1)]
    return (NAMES + extra)[:n]


def write_site_file(folder: Path, site_id: str, name: str, mqtt_url: str, http: str) -> Path:
    """The demo site's file under another id and name, its relative paths made absolute."""
    source = demo_site_dir() / "site.yaml"
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    doc["site"] = {**doc["site"], "id": site_id, "name": name}
    doc["mqtt"] = {**doc.get("mqtt", {}), "url": mqtt_url}
    doc["http"] = {"listen": http}
    doc["storage"] = {"path": str(folder / "data")}
    for key in ("inventory", "patrol"):
        if key in doc:
            doc[key] = str(demo_site_dir() / doc[key])
    doc["rules"] = [str(demo_site_dir() / r) for r in doc.get("rules", [])]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_hq_file(folder: Path, mqtt_url: str, sites: list[tuple[str, str, str]], speed: float) -> Path:
    listed = [{"id": s, "name": n, "dashboard": url} for s, n, url in sites]
    # Sites send their health once a minute of real time, which is `speed` minutes of the demo's
    # clock: "silent" waits five of those, not five site minutes.
    silent = f"{max(5, round(5 * speed))}m"
    doc = {"hq": {"id": "demo-hq", "name": "物业集团总部 Estate head office (demo)", "timezone": "Asia/Shanghai"},
           "mqtt": {"url": mqtt_url, "replica": "1"}, "storage": {"path": str(folder / "data")}, "sites": listed,
           "status": {"silent_after": silent}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hq.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _port_or_free(host: str, preferred: int) -> int:
    """The port after the fleet page's for site i (easy to remember), or any free one if it is taken:
    the banner and the fleet page's links say which."""
    with socket.socket() as s:
        try:
            s.bind((host, preferred))
        except OSError:
            return _free_port()
    return preferred


def _free_port() -> int:
    """A loopback port nobody listens on now: the brokers are the demo's own, out of the way of a
    mosquitto the machine may already run on 1883."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_fleet_demo(sites: int, *, http: str | None = None, data: str | None = None, speed: float = 60.0,
                   rate: float = 20.0) -> None:
    if mosquitto_binary() is None:
        print("sitegate demo --sites needs mosquitto (Debian: apt-get install mosquitto); the embedded demo "
              "broker cannot bridge sites to a head office.", file=sys.stderr)
        raise SystemExit(2)
    names = site_names(sites)
    scratch = None
    if data is None:
        scratch = tempfile.TemporaryDirectory(prefix="sitegate-fleet-demo-")
        data = scratch.name
    root = Path(data)
    host, hq_port = (http or "127.0.0.1:8080").rsplit(":", 1)
    brokers: list[ConfBroker] = []
    parts: list[Part] = []
    try:
        hq_mq = hq_broker(root / "hq-broker", _free_port())
        hq_mq.start()
        brokers.append(hq_mq)
        tz = load_site(demo_site_dir() / "site.yaml", Overrides()).tz
        start = evening_start(tz, at=clock_time(19, 30))
        timeline = ["--start", start.isoformat(), "--speed", f"{speed:g}", "--real-start", f"{time.time() + 3:.3f}"]
        listed: list[tuple[str, str, str]] = []
        for i, (site_id, name) in enumerate(names, start=1):
            broker = site_broker(root / site_id / "broker", _free_port(), hq_mq, client_id=f"sitegate-bridge-{site_id}")
            broker.start()
            brokers.append(broker)
            site_http = f"{host}:{_port_or_free(host, int(hq_port) + i)}"
            config = write_site_file(root / site_id, site_id, name, broker.url, site_http)
            listed.append((site_id, name, f"http://{site_http}/"))
            parts.append(_launch(root, f"{site_id}-gateway", ["run", "--config", str(config), "--log-level",
                                                               "warning", *timeline]))
            parts.append(_launch(root, f"{site_id}-simulator", ["simulate", "--config", str(config), "--seed",
                                                                 str(i), "--rate", f"{rate:g}", "--log-level",
                                                                 "warning", *timeline]))
        hq_file = write_hq_file(root / "hq", hq_mq.url, listed, speed)
        # Head office on the sites' timeline too, so "overdue" and "last heard" compare like times.
        parts.append(_launch(root, "hq", ["hq", "--config", str(hq_file), "--http", f"{host}:{hq_port}",
                                          "--catchup", "--log-level", "warning", *timeline]))
        print(banner(host, int(hq_port), listed, start=start, speed=speed, data=data, kept=scratch is None,
                     hq_file=hq_file), flush=True)
        _watch(parts)
    except KeyboardInterrupt:
        pass
    finally:
        for part in reversed(parts):
            _stop(part)
        for broker in reversed(brokers):
            broker.stop()
        if scratch is not None:
            scratch.cleanup()
    kept = f"its data stays in {data}" if scratch is None else f"its temporary folder {data} was removed"
    print(f"Sitegate fleet demo stopped: head office, {len(names)} sites (gateways, simulators) and "
          f"{len(brokers)} brokers shut down; {kept}.", flush=True)


def _launch(root: Path, name: str, args: list[str]) -> Part:
    log = (root / f"{name}.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "gateway", *args], stdout=log, stderr=log)
    return Part(name, proc, log)


def _watch(parts: list[Part]) -> None:
    """Until Ctrl-C; a part that dies stops the demo with its name and log, not a silent hole."""
    while True:
        for part in parts:
            code = part.proc.poll()
            if code is not None:
                print(f"{part.name} exited with {code}; see {part.log.name}", file=sys.stderr, flush=True)
                return
        time.sleep(0.5)


def _stop(part: Part) -> None:
    if part.proc.poll() is None:
        part.proc.terminate()
        try:
            part.proc.wait(20)
        except subprocess.TimeoutExpired:
            part.proc.kill()
            part.proc.wait()
    part.log.close()


def banner(host: str, hq_port: int, sites: list[tuple[str, str, str]], *, start: datetime, speed: float,
           data: str, kept: bool, hq_file: Path) -> str:
    folder = f"{data} (kept)" if kept else f"{data} (temporary: removed when the demo stops; --data DIR keeps it)"
    rows = "".join(f"    {name}: {url}\n" for _, name, url in sites)
    return (f"\n  Sitegate fleet demo: head office with {len(sites)} sites — open http://{host}:{hq_port}/\n"
            f"  the sites' own dashboards:\n{rows}"
            f"  site clocks start {start:%H:%M} and run {speed:g}x faster; the fleet page fills as the sites'\n"
            f"  events cross their bridges (each site's mosquitto -> the head-office mosquitto). Ctrl-C stops.\n"
            f"  data and logs: {folder}\n"
            f"  a head-office token: sitegate hq token create --config {shlex.quote(str(hq_file))} --role viewer "
            f"--name \"me\"\n")
