"""`sitegate demo`: embedded broker + gateway on the demo site + simulator + dashboard, zero set-up.

The site clock runs `speed` times faster than real time from 19:30 today (site time), so lit
lamps, the night rounds and their faults come within a minute. Gateway and simulator share that clock.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from datetime import time

from gateway.config import Overrides, Site, load_site
from gateway.embedded_broker import EmbeddedBroker
from gateway.httpserver import run_http
from gateway.paths import demo_site_dir
from gateway.runner import guarded_app, open_tokens
from gateway.service import Gateway
from gateway.simulator.engine import SiteClock, evening_start, run_simulation
from gateway.wiring import attach_features

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
    gw = Gateway(site, clock=SiteClock(start, speed))
    attach_features(gw)
    tokens = open_tokens(site)
    # Ticket actions need an engineer's token: the demo makes one and prints it.
    demo_token = tokens.create("demo", "admin").secret
    app = guarded_app(gw, tokens)
    stop = threading.Event()
    gw.start()
    sim = threading.Thread(target=run_simulation, name="sitegate-simulator", daemon=True,
                           kwargs={"site": site, "mqtt_url": broker.url, "rate": rate, "speed": speed,
                                   "start": start, "stop": stop})
    sim.start()
    print(f"\n  Sitegate demo: {site.site.name} — open http://{site.http.host}:{site.http.port}/\n"
          f"  site clock starts {start:%H:%M} and runs {speed:g}x faster; Ctrl-C stops.\n"
          f"  token for ticket actions (paste it when the page asks): {demo_token}\n", flush=True)
    try:
        run_http(app, site.http.host, site.http.port)
    finally:
        stop.set()
        sim.join(3)
        gw.stop()
        tokens.close()
        broker.stop(2)
        if scratch is not None:
            scratch.cleanup()
