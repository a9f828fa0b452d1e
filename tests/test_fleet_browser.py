"""The fleet page in headless Chromium (no network beyond loopback): one row per site with the counts
worked out by hand, status colours with reasons, sorting by a column, both languages, and a site's
page with its tickets and rounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.core.clock import FakeClock
from gateway.fleet import samples
from gateway.fleet.config import SiteEntry
from gateway.fleet.events import parse_event
from gateway.fleet.metrics import FleetMetrics
from gateway.fleet.service import FleetService
from gateway.fleet.store import FleetStore
from gateway.web.hq_app import create_hq_app
from tests.support.browser import NO_NETWORK, Browser, available, chromium
from tests.support.http_thread import ServerThread

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)
# site -> (open, overdue, critical, devices offline): what the events below add up to, by hand.
EXPECTED = {"north": (3, 1, 1, 0), "south": (1, 0, 0, 2), "east": (0, 0, 0, 0)}


def events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for site in EXPECTED:
        out.append(samples.health_event(site, NOW - timedelta(minutes=1), timeliness_month=0.9))

    def tick(site: str, tid: str, **kw: Any) -> None:
        kw.setdefault("opened_at", NOW - timedelta(hours=2))
        out.append(samples.ticket_event(site, samples.ticket(tid, **kw), kw["opened_at"]))

    tick("north", "T-1", severity="critical", deadlines={"respond": NOW + timedelta(hours=1)})
    tick("north", "T-2", deadlines={"respond": NOW - timedelta(minutes=5)})  # overdue
    tick("north", "T-3", status="acknowledged", revision=2)
    tick("north", "T-4", status="closed", revision=3, severity="critical")
    tick("south", "T-1", deadlines={"respond": NOW + timedelta(hours=2)})
    for n in (1, 2):
        out.append(samples.device_event("south", f"lamp-{n}", online=False, since=NOW - timedelta(minutes=30)))
    out.append(samples.round_event("north", "r1", scheduled_start=NOW - timedelta(hours=11), expected=10, visited=9,
                                   at=NOW - timedelta(hours=10)))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    store = FleetStore(f"sqlite:///{tmp_path_factory.mktemp('hq') / 'hq.db'}")
    store.write_batch([parse_event(samples.topic(e["site"], samples.kind_of(e)), samples.encode(e)) for e in events()])
    entries = [SiteEntry(id="north", name="北苑 North Court", dashboard="http://127.0.0.1:9/north/")]
    service = FleetService(store, FakeClock(NOW), TZ, entries)
    app = create_hq_app(service, FleetMetrics(), lambda: {"status": "ok", "timezone": "Asia/Shanghai"})
    with ServerThread(app) as running:
        yield running
    store.close()


def cells(browser: Browser, site: str) -> tuple[int, int, int, int]:
    row = f'#sites tr[data-site="{site}"]'
    return tuple(int(browser.text(f'{row} td[data-col="{c}"]'))  # type: ignore[return-value]
                 for c in ("open_tickets", "overdue_tickets", "critical_tickets", "devices_offline"))


def test_the_fleet_page_shows_each_sites_counts_in_both_languages(server: ServerThread, tmp_path: Path) -> None:
    with chromium(tmp_path / "shots", flags=NO_NETWORK) as browser:
        browser.open(server.url + "/")
        browser.wait_element('#sites tr[data-site="east"]')
        assert browser.text("#view-title") == "All sites"
        for site, expected in EXPECTED.items():
            assert cells(browser, site) == expected, site
        statuses = {s: browser.find(f'#sites tr[data-site="{s}"]').get_attribute("data-status") for s in EXPECTED}
        assert statuses == {"north": "red", "south": "amber", "east": "green"}
        assert browser.text('#sites tr[data-site="north"] .reasons') == "1 critical open; 1 overdue"
        assert browser.text('#sites tr[data-site="south"] .reasons') == "2 devices offline"
        assert browser.text('#sites tr[data-site="north"] a.dashboard') == "Site dashboard"
        assert "90%" in browser.text('#sites tr[data-site="north"]')  # last night's patrol, 9 of 10
        assert browser.text("#summary") == "3 sites · 4 open tickets · 1 overdue · 1 critical"

        browser.find('button[data-sort="open_tickets"]').click()  # ascending: east (0), south (1), north (3)
        order = [r.get_attribute("data-site") for r in browser.find_all("#sites tbody tr")]
        assert order == ["east", "south", "north"]

        browser.find("#toggle-lang").click()
        browser.wait_text("#view-title", "全部站点")
        assert browser.text('button[data-sort="overdue_tickets"]').startswith("超时")
        assert browser.text('#sites tr[data-site="north"] .status') == "红"
        assert browser.text('#sites tr[data-site="north"] .reasons') == "紧急工单 1 张; 超时工单 1 张"
        for site, expected in EXPECTED.items():
            assert cells(browser, site) == expected, site
        browser.screenshot("fleet-zh")

        browser.find('#sites tr[data-site="north"] td a').click()
        browser.wait_text("#view-title", "北苑 North Court")
        browser.wait_text("#site-tickets", "(4)")
        assert "(1)" in browser.text("#site-rounds")
        errors = [e for e in browser.console() if e.get("level") == "SEVERE"]
        assert errors == []
