"""The demo site on a real gateway with a real night on it, for tests and tools that look at every
page of the dashboard (tests/test_dashboard_i18n.py, tests/test_dashboard_layout.py,
tests/support/screenshots.py).

mosquitto, `sitegate run` on examples/demo-site and `sitegate simulate` (the demo's seed) share one
accelerated site TIMELINE from 19:30 to 21:30 on a fixed night; the gateway's clock then holds at
21:30, so what the pages show stays put while they are looked at: the dusk lamp faults, the detector
whose battery died, the fire door propped open at 21:10 (tickets), the 20:00 rounds (one walked in the
wrong order), a month of November for the reports page.

`PAGES` is the list of the dashboard's pages: a page added to the dashboard is added here and every
check that walks the pages covers it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.core.paths import demo_site_dir
from gateway.ingest import capture
from tests.support.browser import Browser
from tests.support.gateway_proc import GatewayProcess, wait_for
from tests.support.mosquitto import mosquitto

SITE = demo_site_dir() / "site.yaml"
CAPTURE = demo_site_dir() / "capture.jsonl"
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 18, 19, 30, tzinfo=TZ)
END = datetime(2026, 11, 18, 21, 30, tzinfo=TZ)
SPEED, RATE, SEED = 450.0, 330.0, 7  # 2 site hours in 16 real seconds; every device inside its heartbeat
LEAD_S = 5.0
WIDTHS = (390, 1280, 1920)
LANGS = ("en", "zh")


@dataclass
class DemoGateway:
    gw: GatewayProcess
    data: Path
    broker_port: int

    @property
    def url(self) -> str:
        return self.gw.url

    def get(self, path: str, **params: Any) -> Any:
        return self.gw.get(path, **params)


def _sitegate(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


@contextmanager
def demo_gateway(tmp: Path) -> Iterator[DemoGateway]:
    """A gateway on the demo site after two simulated evening hours (about 25 real seconds to set up)."""
    with mosquitto(tmp / "mosquitto") as broker:
        anchor = time.time() + LEAD_S
        timeline = ["--start", START.isoformat(), "--speed", str(SPEED), "--real-start", f"{anchor:.6f}",
                     "--until", END.isoformat()]
        url = ["--mqtt-url", broker.url]
        gw = GatewayProcess(SITE, args=[*url, "--data", str(tmp / "data"), "--log-level", "warning", *timeline],
                            log=tmp / "gateway.log")
        try:
            gw.start()
            sim = subprocess.run(
                _sitegate("simulate", "--config", str(SITE), *url, "--data", str(tmp / "sim"), "--rate", str(RATE),
                          "--seed", str(SEED), "--log-level", "warning", *timeline),
                capture_output=True, timeout=LEAD_S + (END - START).total_seconds() / SPEED + 60)
            if sim.returncode != 0:
                raise RuntimeError(sim.stderr.decode())
            published = re.search(rb"published (\d+) messages", sim.stdout)
            assert published is not None, sim.stdout.decode()

            def received() -> bool:
                metrics = gw.get("/api/health")
                return bool(metrics["now"] == END.isoformat() and not metrics["pending"])

            wait_for(received, 60, "the gateway to take the whole evening")
            wait_for(lambda: gw.get("/api/tickets"), 30, "the evening's tickets")
            yield DemoGateway(gw, tmp / "data", broker.port)
        finally:
            if gw.proc is not None and gw.proc.poll() is None:
                gw.proc.send_signal(signal.SIGTERM)
            gw.stop()


@dataclass(frozen=True)
class Page:
    """One page of the dashboard: its name (file names, test ids), how to reach it, and what shows
    that it has loaded (a CSS selector that matches once the data is in)."""

    name: str
    route: Callable[[DemoGateway], str]
    ready: str
    open_extra: Callable[[Browser, DemoGateway], None] | None = None  # a step after loading (a dialog...)


SEVERITY_ORDER = ("critical", "major", "minor", "warning")


def _fault_ticket(demo: DemoGateway) -> dict[str, Any]:
    """The most severe open ticket a device fault opened (stages, countdowns, a device to link to):
    the richest ticket page. Planned jobs (rule request.planned) come last."""
    tickets = demo.get("/api/tickets", status="open")
    tickets.sort(key=lambda t: (str(t["rule"]).startswith("request."), t.get("device_id") is None,
                                SEVERITY_ORDER.index(t["severity"]), t["id"]))
    ticket: dict[str, Any] = tickets[0]
    return ticket


def _first_ticket(demo: DemoGateway) -> str:
    return f"#/tickets/{_fault_ticket(demo)['id']}"


def _ticket_device(demo: DemoGateway) -> str:
    return f"#/devices/{_fault_ticket(demo)['device_id']}"


def _open_token_prompt(browser: Browser, demo: DemoGateway) -> None:
    """An action on a ticket without a token: the gateway answers 401 and the page asks for one."""
    browser.js("localStorage.removeItem('sitegate.token');")
    button = browser.wait_for(lambda: next((b for b in browser.find_all("#action-buttons button")
                                            if b.is_displayed() and b.is_enabled()), None),
                              "an action button on the ticket", 10)
    button.click()
    confirm = browser.find_all("#action-confirm")
    if confirm and confirm[0].is_displayed():  # accept/resolve ask for details first
        confirm[0].click()
    browser.wait_for(lambda: browser.js("return document.getElementById('token-dialog').open;"),
                     "the token prompt to open", 10)


def sample_traffic(limit: int = 40) -> list[tuple[str, bytes]]:
    """One message of each kind the demo's devices send (a lamp's power and state, a light sensor, a
    smoke detector, an extinguisher, a checkpoint tap, ...), from the shipped capture."""
    seen: set[str] = set()
    out: list[tuple[str, bytes]] = []
    for message in capture.read(CAPTURE):
        # A device id's kind is its first part (lamp-b5-01, smk-b3-7f, cp-ngate): one message a kind and topic.
        shape = "/".join(part.split("-")[0] for part in message.topic.split("/"))
        if shape not in seen and not message.topic.endswith("/gateway/status"):
            seen.add(shape)
            out.append((message.topic, message.payload))
    return out[:limit]


def _live_events(browser: Browser, demo: DemoGateway) -> None:
    """Devices talk while the page is open, so the live feed has lines of every kind to word."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sitegate-dashboard-feed")
    client.connect("127.0.0.1", demo.broker_port)
    client.loop_start()
    try:
        for topic, payload in sample_traffic():
            client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    browser.wait_for(lambda: len(browser.find_all("#feed li")) >= 3, "live events in the feed", 10)


PAGES: tuple[Page, ...] = (
    Page("overview", lambda d: "#/overview", "#card-overview-tickets li"),
    # The live feed beside the overview, with events arriving while it is open.
    Page("feed", lambda d: "#/overview", "#card-overview-tickets li", _live_events),
    Page("tickets", lambda d: "#/tickets", "#ticket-list table"),
    Page("ticket", _first_ticket, "#ticket-detail .facts"),
    Page("request", lambda d: "#/tickets/new", "#view form"),
    Page("devices", lambda d: "#/devices", "#view a[href^='#/devices/']"),
    Page("device", _ticket_device, "#view h2"),
    Page("patrol", lambda d: "#/patrol", "#view table"),
    Page("reports", lambda d: "#/reports", "#view table"),
    Page("token", _first_ticket, "#ticket-detail .facts", _open_token_prompt),
)


def prepare(browser: Browser, demo: DemoGateway, lang: str) -> None:
    """A fresh page state in `lang`: no token, normal type, the language chosen before the app starts."""
    browser.open(demo.url + "/static/vendor/README.txt")  # same origin, no app running
    browser.js("localStorage.clear(); localStorage.setItem('sitegate.lang', arguments[0]);", lang)


def open_page(browser: Browser, demo: DemoGateway, page: Page, lang: str) -> None:
    """Load `page` in `lang` and wait until its data is in, the live feed is connected and the
    page has stopped changing."""
    prepare(browser, demo, lang)
    browser.open(f"{demo.url}/{page.route(demo)}")
    browser.wait_for(lambda: browser.find("#live-state").get_attribute("data-state") == "live",
                     "the live feed to connect", 15)
    browser.wait_element(page.ready, 15)
    settle(browser)
    if page.open_extra is not None:
        page.open_extra(browser, demo)
        settle(browser)


def settle(browser: Browser, timeout: float = 10.0, interval: float = 0.4) -> None:
    """Until the page's text and size are the same twice `interval` apart (data loaded, labels applied,
    laid out again after a resize)."""
    snapshots: list[Any] = []

    def steady() -> bool:
        snapshots.append(browser.js("return [document.body.innerText, document.body.scrollHeight, "
                                    "document.body.scrollWidth, document.querySelectorAll('.notice').length];"))
        time.sleep(interval)
        return len(snapshots) >= 2 and snapshots[-1] == snapshots[-2]

    browser.wait_for(steady, "the page to stop changing", timeout)
