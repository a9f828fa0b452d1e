"""`sitegate demo`: embedded broker + gateway on the demo site + simulator + dashboard, zero set-up.

The site clock runs `speed` times faster than real time from 19:30 today (site time), so lit
lamps, the night rounds and their faults come within a minute. Gateway and simulator share that clock.
"""

from __future__ import annotations

import logging
import shlex
import tempfile
import threading
from datetime import datetime, time

from gateway.app.embedded_broker import EmbeddedBroker
from gateway.app.features import attach_features
from gateway.app.runner import guarded_app, open_tokens
from gateway.app.simulator.engine import evening_start, run_simulation
from gateway.core.clock import SiteClock
from gateway.core.paths import demo_site_dir
from gateway.core.site import Site
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.web.server import run_http

log = logging.getLogger("sitegate.demo")


def demo_site(http: str | None, data: str, mqtt_url: str) -> Site:
    overrides = Overrides.from_env(mqtt_url=mqtt_url, http=http, data=data)
    return load_site(demo_site_dir() / "site.yaml", overrides)


def run_demo(http: str | None = None, data: str | None = None, *, speed: float = 60.0,
             rate: float = 40.0) -> None:
    """Run until Ctrl-C (or SIGTERM), then print one line saying what stopped; a Ctrl-C while it
    is still starting stops it just as quietly."""
    scratch = None
    if data is None:  # a fresh site every time: the simulated night starts again at 19:30
        scratch = tempfile.TemporaryDirectory(prefix="sitegate-demo-")
        data = scratch.name
    broker = EmbeddedBroker()
    try:
        broker.start()
        _serve(broker, data, kept=scratch is None, speed=speed, rate=rate, http=http)
    except KeyboardInterrupt:
        pass  # Ctrl-C before the server took over the signal: nothing is half-served yet
    finally:
        broker.stop(2)
        if scratch is not None:
            scratch.cleanup()
    print(stopped_line(data, kept=scratch is None), flush=True)


def _serve(broker: EmbeddedBroker, data: str, *, kept: bool, speed: float, rate: float,
           http: str | None) -> None:
    site = demo_site(http, data, broker.url)
    # 19:30: the lamps are already lit (dusk faults show within seconds) and the 20:00 night rounds
    # start half a minute after launch, so a new user sees a living site within a minute.
    start = evening_start(site.tz, at=time(19, 30))
    clock = SiteClock(start, speed)
    gw = Gateway(site, clock=clock)
    attach_features(gw)
    tokens = open_tokens(site)
    # Ticket actions need an engineer's token: the demo makes one and prints it. More tokens (an
    # admin's, a guard's) come from `sitegate token create` on the same data folder.
    demo_token = tokens.create("demo engineer", "engineer").secret
    app = guarded_app(gw, tokens)
    stop = threading.Event()

    def simulate() -> None:
        # The server's lifespan starts the gateway: simulate once it listens (amqtt keeps nothing
        # for a subscriber that is not there yet).
        if gw.mqtt is not None and gw.mqtt.connected.wait(30):
            # The gateway's own clock: the simulator joins its timeline where it has got to.
            run_simulation(site=site, mqtt_url=broker.url, rate=rate, stop=stop, clock=clock)

    sim = threading.Thread(target=simulate, name="sitegate-simulator", daemon=True)
    sim.start()
    print(banner(site, start=start, speed=speed, token=demo_token, data=data, kept=kept), flush=True)
    try:
        run_http(app, site.http.host, site.http.port)  # starts the gateway, and stops it on Ctrl-C
    finally:
        stop.set()
        sim.join(3)
        tokens.close()


def banner(site: Site, *, start: datetime, speed: float, token: str, data: str, kept: bool) -> str:
    """What a newcomer needs: the page, the clock, the engineer's token, and where the data lives
    with the exact `sitegate token` command that works on it."""
    folder = f"{data} (kept)" if kept else f"{data} (temporary: removed when the demo stops; --data DIR keeps it)"
    return (f"\n  Sitegate demo: {site.site.name} — open http://{site.http.host}:{site.http.port}/\n"
            f"  site clock starts {start:%H:%M} and runs {speed:g}x faster; Ctrl-C stops.\n"
            f"  engineer's token (ticket actions; paste it when the page asks): {token}\n"
            f"  data folder: {folder}\n"
            f"  more tokens, while the demo runs (another terminal):\n"
            f"    sitegate token create --data {shlex.quote(data)} --role admin --name \"me\"\n"
            f"    sitegate token list --data {shlex.quote(data)}\n")


def stopped_line(data: str, *, kept: bool) -> str:
    kept_text = f"its data stays in {data}" if kept else f"its temporary data folder {data} was removed"
    return f"Sitegate demo stopped: dashboard, gateway, simulator and broker shut down; {kept_text}."
