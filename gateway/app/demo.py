"""`sitegate demo`: embedded broker + gateway on the demo site + simulator + dashboard, zero set-up.

The site clock runs `speed` times faster than real time from 19:30 today (site time), so lit
lamps, the night rounds and their faults come within a minute. Gateway and simulator share that clock.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from datetime import time

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
    broker = EmbeddedBroker()
    broker.start()
    scratch = None
    if data is None:  # a fresh site every time: the simulated night starts again at 19:30
        scratch = tempfile.TemporaryDirectory(prefix="sitegate-demo-")
        data = scratch.name
    site = demo_site(http, data, broker.url)
    # 19:30: the lamps are already lit (dusk faults show within seconds) and the 20:00 night rounds
    # start half a minute after launch, so a new user sees a living site within a minute.
    start = evening_start(site.tz, at=time(19, 30))
    clock = SiteClock(start, speed)
    gw = Gateway(site, clock=clock)
    attach_features(gw)
    tokens = open_tokens(site)
    # Ticket actions need an engineer's token: the demo makes one and prints it.
    demo_token = tokens.create("demo", "admin").secret
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
    print(f"\n  Sitegate demo: {site.site.name} — open http://{site.http.host}:{site.http.port}/\n"
          f"  site clock starts {start:%H:%M} and runs {speed:g}x faster; Ctrl-C stops.\n"
          f"  token for ticket actions (paste it when the page asks): {demo_token}\n", flush=True)
    try:
        run_http(app, site.http.host, site.http.port)  # starts the gateway, and stops it on Ctrl-C
    finally:
        stop.set()
        sim.join(3)
        tokens.close()
        broker.stop(2)
        if scratch is not None:
            scratch.cleanup()
