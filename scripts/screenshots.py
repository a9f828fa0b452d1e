"""The README's screenshots of the demo site, taken from a living demo in headless Chromium.

    .venv/bin/python scripts/screenshots.py            # writes docs/overview.png and docs/patrol.png
    .venv/bin/python scripts/screenshots.py --lang zh  # the same in Chinese
    .venv/bin/python scripts/screenshots.py --out /tmp/shots --timeout 240

Needs Debian's chromium, chromium-driver and fonts-wqy-microhei (`scripts/system-deps.sh`). Takes
about 100 s: it runs the demo in-process as `sitegate demo` does (the embedded amqtt broker, the
gateway on examples/demo-site/ with its data in a temp dir, the simulator), but starts the site clock
at 19:40 at speed 60, so the first night rounds (20:00) begin after 20 s. The patrol page is taken
once faults have opened tickets and a round has finished while others are under way (about 20:35),
the overview once a major fault has a ticket (the propped fire door, about 21:15), both at 1400x1000.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file, the repository root is not on the path
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from gateway.app.demo import demo_site  # noqa: E402
from gateway.app.embedded_broker import EmbeddedBroker, pick_port  # noqa: E402
from gateway.app.features import attach_features  # noqa: E402
from gateway.app.runner import guarded_app, open_tokens  # noqa: E402
from gateway.app.simulator.engine import evening_start, run_simulation  # noqa: E402
from gateway.core.clock import SiteClock  # noqa: E402
from gateway.ingest.gateway import Gateway  # noqa: E402
from tests.support.browser import Browser, available, chromium  # noqa: E402
from tests.support.http_thread import ServerThread  # noqa: E402

SPEED = 60.0
START = clock_time(19, 40)
WIDTH, HEIGHT = 1400, 1000
MIN_TICKETS = 3
SERIOUS_BY = clock_time(21, 30)  # take the overview by then, serious ticket or not
FINISHED = ("completed", "incomplete")


def wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"Waited {timeout:g} s for {what}; it never happened. Run `sitegate demo` and "
                             "look at the dashboard to see what the site does.")
        time.sleep(0.25)


@contextmanager
def living_demo(data: Path) -> Iterator[tuple[str, Gateway]]:
    """The demo site running: broker, gateway on an accelerated clock from 19:40, simulator, HTTP."""
    broker = EmbeddedBroker()
    broker.start()
    http = f"127.0.0.1:{pick_port('127.0.0.1', 18080)}"
    site = demo_site(http, str(data), broker.url)
    start = datetime.combine(evening_start(site.tz).date(), START, site.tz)
    clock = SiteClock(start, SPEED)
    gw = Gateway(site, clock=clock)
    attach_features(gw)
    tokens = open_tokens(site)
    server = ServerThread(guarded_app(gw, tokens), site.http.host, site.http.port)  # reads open on loopback
    stop = threading.Event()
    sim = threading.Thread(target=run_simulation, name="screenshots-simulator", daemon=True,
                           kwargs={"site": site, "mqtt_url": broker.url, "rate": 40.0, "clock": clock,
                                   "stop": stop})
    try:
        server.start()  # its lifespan starts the gateway
        sim.start()
        yield f"http://{http}", gw
    finally:
        stop.set()
        server.stop()  # and stops it
        sim.join(5)
        tokens.close()
        broker.stop(2)


class Progress:
    """Prints the site's state when it changes (the site clock's minute included)."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, line: str) -> None:
        if line != self.last:
            print(line, flush=True)
            self.last = line


class Site:
    """What the demo's API says, in the terms the screenshots wait for."""

    def __init__(self, api: httpx.Client, gw: Gateway) -> None:
        self.api, self.gw, self.say = api, gw, Progress()

    def tickets(self) -> list[dict[str, Any]]:
        return [t for s in ("open", "acknowledged")
                for t in self.api.get("/api/tickets", params={"status": s}).json()]

    def rounds_living(self) -> bool:
        """Tickets from faults, and tonight's rounds: one finished at least, and others under way."""
        tickets = self.tickets()
        rounds = self.api.get("/api/patrol/rounds", params={"date": self.gw.clock.now().date().isoformat()}).json()
        finished = sum(r["status"] in FINISHED for r in rounds)
        going = sum(r["status"] == "in_progress" for r in rounds)
        self.say(f"  site {self.gw.clock.now():%H:%M}: {len(tickets)} open tickets; rounds {finished} finished, "
                 f"{going} in progress")
        return len(tickets) >= MIN_TICKETS and finished >= 1 and going >= 1

    def serious_ticket(self) -> bool:
        """A major or critical ticket (the fire door propped open at 21:10 gives one by 21:15)."""
        tickets = self.tickets()
        serious = sum(t["severity"] in ("critical", "major") for t in tickets)
        self.say(f"  site {self.gw.clock.now():%H:%M}: {len(tickets)} open tickets, {serious} major or critical")
        return serious > 0 or self.gw.clock.now().time() >= SERIOUS_BY


def start_page(browser: Browser, url: str, route: str, lang: str) -> None:
    browser.set_viewport(WIDTH, HEIGHT)
    browser.open(url + "/static/vendor/README.txt")  # same origin, to set the language first
    browser.js("localStorage.clear(); localStorage.setItem('sitegate.lang', arguments[0]);", lang)
    browser.open(f"{url}/{route}")
    browser.wait_for(lambda: browser.find("#live-state").get_attribute("data-state") == "live", "the live feed")


def settle(browser: Browser, events: int) -> None:
    browser.wait_for(lambda: len(browser.find_all("#feed li")) >= events, "live events in the feed", timeout=15)
    browser.js("window.scrollTo(0, 0);")
    time.sleep(0.4)  # the redraw after the last event (250 ms coalescing) before the picture


def patrol_shot(browser: Browser, url: str, path: Path, lang: str) -> None:
    start_page(browser, url, "#/patrol", lang)
    browser.wait_for(lambda: browser.find_all("li.round"), "tonight's rounds", timeout=15)
    browser.wait_for(lambda: browser.find("#coverage-chart").get_attribute("data-points"), "the trend chart",
                     timeout=15)
    # Unfold the first round under way, so its checkpoints' states show.
    for card in browser.find_all("li.round.status-in_progress")[:1]:
        card.find_element(By.CSS_SELECTOR, "summary").click()
    settle(browser, 6)
    browser.driver.save_screenshot(str(path))


def overview_shot(browser: Browser, url: str, path: Path, lang: str) -> None:
    start_page(browser, url, "#/overview", lang)
    browser.wait_for(lambda: browser.find_all("#severity-counts li") and browser.find_all("#patrol-coverage")
                     and browser.find_all("#devices-online"), "the overview's data", timeout=15)
    settle(browser, 8)
    browser.driver.save_screenshot(str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Take the README's dashboard screenshots from a living demo.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for overview.png, patrol.png")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="dashboard language")
    parser.add_argument("--timeout", type=float, default=180.0, help="real seconds to wait for each moment")
    args = parser.parse_args(argv)
    if (why := available()) is not None:
        raise SystemExit(why)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    patrol, overview = args.out / "patrol.png", args.out / "overview.png"
    with tempfile.TemporaryDirectory(prefix="sitegate-shots-") as scratch, \
            living_demo(Path(scratch) / "data") as (url, gw), httpx.Client(base_url=url, timeout=5) as api, \
            chromium(Path(scratch) / "browser", width=WIDTH, height=HEIGHT) as browser:
        print(f"demo at {url}, site clock from {gw.clock.now():%H:%M} at {SPEED:g}x", flush=True)
        site = Site(api, gw)
        wait(site.rounds_living, args.timeout, "tickets and tonight's first rounds finished and under way")
        patrol_shot(browser, url, patrol, args.lang)
        print(f"saved {patrol} after {time.monotonic() - t0:.0f} s (site {gw.clock.now():%H:%M})", flush=True)
        wait(site.serious_ticket, args.timeout, "a major ticket")
        overview_shot(browser, url, overview, args.lang)
        print(f"saved {overview} after {time.monotonic() - t0:.0f} s (site {gw.clock.now():%H:%M})", flush=True)
    print(f"done in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
