"""The dashboard in a real headless Chromium, against an in-process API with CONTRACT.md's shapes.

The fake site below answers the HTTP API from fixture data, lets a test push live events on
/api/events, records what the page asked for, and can play an old gateway (features answering 404)
or one that wants a token (401). Screenshots land in the test's temp dir.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi import FastAPI, HTTPException, Query, Request
from selenium.webdriver.common.by import By
from sse_starlette.sse import EventSourceResponse

from gateway.core.events import EventBus
from gateway.web.dashboard import make_dashboard_router
from tests.support.browser import Browser, available, dump
from tests.support.http_thread import ServerThread

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

TZ = ZoneInfo("Asia/Shanghai")
LEGAL = {"ack": {"open": "acknowledged"}, "resolve": {"open": "resolved", "acknowledged": "resolved"},
         "close": {"resolved": "closed"}}
PAST = {"ack": "acknowledged", "resolve": "resolved", "close": "closed"}
SSE_WITHIN_S = 2.0


def iso(when: datetime) -> str:
    return when.astimezone(TZ).isoformat(timespec="seconds")


def ticket(tid: str, severity: str, status: str, device: str, zone: str, title: str,
           due_in: timedelta) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"id": tid, "rule": "lamp_out", "device_id": device, "zone": zone, "severity": severity,
            "status": status, "title": title, "opened_at": iso(now - timedelta(minutes=40)),
            "due_at": iso(now + due_in), "occurrences": 1, "assignee": None,
            "history": [{"at": iso(now - timedelta(minutes=40)), "actor": "system", "action": "opened",
                         "note": title, "from": None, "to": "open"}]}


def rounds_for(day: date) -> list[dict[str, Any]]:
    """The same four rounds every day: 00:00 and 02:00 complete, 20:00 incomplete, 22:00 in progress."""
    names = ["北门 North gate", "1号楼天台 B1 roof", "车库 Garage", "泳池 Pool"]

    def rnd(hour: int, status: str, states: list[str], late: int) -> dict[str, Any]:
        start = datetime(day.year, day.month, day.day, hour, tzinfo=TZ)
        cps = []
        for i, s in enumerate(states):
            tapped = s in ("visited", "late")
            cps.append({"id": f"cp-{i}", "name": names[i], "state": s,
                        "guard": "王强 Wang Qiang" if tapped else None,
                        "tapped_at": iso(start + timedelta(minutes=5 * i)) if tapped else None})
        visited = sum(s in ("visited", "late") for s in states)
        return {"route": "night-north", "route_name": "北区夜巡 North night",
                "round_id": f"night-north-{day}T{hour:02}",
                "scheduled_start": iso(start), "status": status, "expected": 4, "visited": visited,
                "missed": [c["id"] for c in cps if c["state"] == "missed"], "late": late,
                "coverage": visited / 4, "guard": "G017", "checkpoints": cps}

    return [rnd(0, "completed", ["visited"] * 4, 0),
            rnd(2, "completed", ["visited", "late", "visited", "visited"], 1),
            rnd(20, "incomplete", ["visited", "visited", "missed", "missed"], 0),
            rnd(22, "in_progress", ["visited", "pending", "pending", "pending"], 0)]


class FakeSite:
    """CONTRACT.md's HTTP API over fixture data; thread-safe, so tests read what the page sent."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.cond = threading.Condition()
        self.reset()

    def reset(self) -> None:
        with self.cond:
            self.disabled: set[str] = set()  # path prefixes answering 404, like a gateway without them
            self.token: str | None = None  # when set, /api/* wants `Authorization: Bearer <token>`
            self.requests: list[dict[str, Any]] = []
            self.posts: list[dict[str, Any]] = []
            self.devices = [
                self._device("lamp-b1-01", "lamp", "b1", True, {"power_on": True, "current_a": 0.42}, 0.95),
                self._device("lamp-b1-02", "lamp", "b1", False, {"power_on": True, "current_a": 0.0}, 0.3),
                self._device("ext-b1-01", "extinguisher", "b1", True,
                             {"pressure_mpa": 1.21, "battery_pct": 87}, 0.9),
                self._device("lux-n-01", "lux_sensor", "north", True, {"illuminance_lux": 3.5}, 1.0),
                self._device("smoke-n-01", "smoke_detector", "north", True,
                             {"smoke": False, "battery_pct": 12}, 0.6),
                self._device("door-n-01", "fire_door", "north", None, {}, None),
            ]
            self.tickets = {t["id"]: t for t in [
                ticket("T-1", "critical", "open", "lamp-b1-02", "b1", "Lamp out: B1 corridor",
                       timedelta(minutes=30)),
                ticket("T-2", "major", "open", "ext-b1-01", "b1", "Extinguisher pressure low",
                       -timedelta(minutes=15)),
                ticket("T-3", "minor", "acknowledged", "smoke-n-01", "north", "Detector battery low",
                       timedelta(hours=2)),
                ticket("T-4", "warning", "resolved", "lux-n-01", "north", "Lux sensor noisy",
                       timedelta(hours=5)),
            ]}

    @staticmethod
    def _device(did: str, kind: str, zone: str, online: bool | None, metrics: dict[str, Any],
                health: float | None) -> dict[str, Any]:
        return {"id": did, "kind": kind, "zone": zone, "online": online, "last_seen": iso(datetime.now(UTC)),
                "metrics": metrics, "health": health}

    def push(self, kind: str, data: dict[str, Any]) -> None:
        self.bus.publish(kind, data)

    def wait_request(self, path: str, timeout: float = 5.0, **params: str) -> dict[str, Any]:
        """The first request to `path` whose query has `params`."""
        def found() -> dict[str, Any] | None:
            return next((r for r in self.requests if r["path"] == path
                         and all(r["query"].get(k) == v for k, v in params.items())), None)
        with self.cond:
            if not self.cond.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"The page never requested {path} with {params}; it asked for:\n"
                                     f"{dump([(r['path'], r['query']) for r in self.requests])}")
            result = found()
            assert result is not None
            return result

    def wait_post(self, tid: str, action: str, timeout: float = 5.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((p for p in self.posts if p["id"] == tid and p["action"] == action), None)
        with self.cond:
            if not self.cond.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"The page never sent POST /api/tickets/{tid}/{action}; "
                                     f"it sent {self.posts}")
            result = found()
            assert result is not None
            return result

    def app(self) -> FastAPI:
        app = FastAPI()
        site = self

        @app.middleware("http")
        async def gatekeeper(request: Request, call_next: Any) -> Any:
            from fastapi.responses import JSONResponse
            path = request.url.path
            with site.cond:
                site.requests.append({"method": request.method, "path": path,
                                      "query": dict(request.query_params),
                                      "authorization": request.headers.get("authorization")})
                site.cond.notify_all()
                disabled = any(path.startswith(p) for p in site.disabled)
                token = site.token
            if disabled:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            authorized = request.headers.get("authorization") == f"Bearer {token}"
            if path.startswith("/api/") and token and not authorized:
                return JSONResponse({"detail": "A valid bearer token is required."}, status_code=401)
            return await call_next(request)

        @app.get("/api/health")
        def health() -> dict[str, Any]:
            # `now` as a gateway says it: the page follows the gateway's clock, not the browser's.
            return {"status": "ok", "mqtt": "connected", "timeseries": "ok", "site": "harbor-view",
                    "site_name": "海景花园 Harbor View", "timezone": "Asia/Shanghai", "problems": [],
                    "now": datetime.now(UTC).isoformat()}

        @app.get("/api/devices")
        def devices() -> list[dict[str, Any]]:
            return site.devices

        @app.get("/api/devices/{did}")
        def device(did: str) -> dict[str, Any]:
            for d in site.devices:
                if d["id"] == did:
                    return d
            raise HTTPException(404, f"No device '{did}' is known.")

        @app.get("/api/tickets")
        def tickets(status: str | None = None, device: str | None = None, zone: str | None = None) -> Any:
            return [t for t in site.tickets.values() if (status is None or t["status"] == status)
                    and (device is None or t["device_id"] == device) and (zone is None or t["zone"] == zone)]

        @app.get("/api/tickets/{tid}")
        def one_ticket(tid: str) -> dict[str, Any]:
            if tid not in site.tickets:
                raise HTTPException(404, f"There is no ticket {tid}.")
            return site.tickets[tid]

        @app.post("/api/tickets/{tid}/{action}")
        def act(tid: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
            with site.cond:
                site.posts.append({"id": tid, "action": action, "body": body})
                site.cond.notify_all()
                t = site.tickets.get(tid)
                if t is None or action not in LEGAL:
                    raise HTTPException(404, f"There is no ticket {tid} or action {action}.")
                to = LEGAL[action].get(t["status"])
                if to is None:
                    allowed = ", ".join(a for a in LEGAL if t["status"] in LEGAL[a])
                    raise HTTPException(409, f"Ticket {tid} is {t['status']}, so it cannot be {PAST[action]} "
                                             f"({action}); actions allowed now: {allowed}.")
                t["history"].append({"at": iso(datetime.now(UTC)), "actor": body.get("actor", "api"),
                                     "action": to, "note": body.get("note", ""), "from": t["status"],
                                     "to": to})
                t["status"] = to
            site.push("ticket", {**t, "change": to})  # as the gateway does on every change
            return t

        @app.get("/api/patrol/rounds")
        def rounds(day: str | None = None, date: str | None = None) -> list[dict[str, Any]]:
            # The page asks by patrol day (`day`); this fake site's nights don't cross midnight.
            return rounds_for(datetime.strptime(day or date or "", "%Y-%m-%d").date())

        @app.get("/api/series")
        def series(measurement: str, field: str, device: str, to: str, from_: str = Query(alias="from"),
                   step: str | None = None) -> dict[str, Any]:
            end = datetime.fromisoformat(to)
            return {"points": [[iso(end - timedelta(minutes=2 * (29 - i))),
                                round(0.4 + 0.1 * math.sin(i / 3), 3)] for i in range(30)]}

        @app.get("/api/events")
        async def events(request: Request) -> EventSourceResponse:
            queue = site.bus.subscribe()

            async def stream() -> Any:
                import asyncio
                try:
                    yield {"event": "hello", "data": orjson.dumps({"site": "harbor-view"}).decode()}
                    while not await request.is_disconnected():
                        try:
                            event = await asyncio.wait_for(queue.get(), timeout=0.5)
                        except TimeoutError:
                            continue
                        yield {"event": event["type"], "data": orjson.dumps(event["data"]).decode()}
                finally:
                    site.bus.unsubscribe(queue)

            return EventSourceResponse(stream(), ping=15)

        app.include_router(make_dashboard_router())
        return app


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[FakeSite, str]]:
    fake = FakeSite()
    with ServerThread(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def browser(site: tuple[FakeSite, str], module_browser: Browser) -> Iterator[Browser]:
    """The shared browser, fixture data reset, English; fails the test on CSP violations and JS errors."""
    fake, url = site
    module_browser.reset_viewport()
    module_browser.open(url + "/static/vendor/README.txt")  # same origin, no app running: a clean slate
    module_browser.js("localStorage.clear(); localStorage.setItem('sitegate.lang', 'en');")
    fake.reset()
    module_browser.console()
    yield module_browser
    problems = [e["message"] for e in module_browser.console()
                if "Content Security Policy" in e["message"] or "Uncaught" in e["message"]]
    assert not problems, f"The page broke its CSP or threw: {dump(problems)}"


def open_page(browser: Browser, url: str, route: str = "#/overview") -> None:
    browser.open(f"{url}/{route}")
    browser.wait_text("#site-name", "Harbor View")


def row_ids(browser: Browser) -> list[str | None]:
    return [r.get_attribute("data-ticket-id") for r in browser.find_all("tr[data-ticket-id]")]


def wait_live(browser: Browser, fake: FakeSite) -> None:
    browser.wait_for(lambda: browser.find("#live-state").get_attribute("data-state") == "live",
                     "the live feed to connect")
    browser.wait_for(lambda: fake.bus.has_subscribers, "the page to subscribe to /api/events")


def test_overview_shows_health_devices_tickets_by_severity_and_tonights_patrol(browser: Browser, site: Any,
                                                                               shots: Path) -> None:
    _, url = site
    open_page(browser, url)
    browser.wait_text("#site-status", "OK")
    assert "connected" in browser.text("#card-overview-health")
    browser.wait_text("#devices-online", "4 / 6")
    counts = browser.wait_for(lambda: {li.get_attribute("data-severity"): li.find_element(By.CSS_SELECTOR,
                                                                                          ".count").text
                                       for li in browser.find_all("#severity-counts li")} or None,
                              "the severity counts")
    assert counts == {"critical": "1", "major": "1", "minor": "1", "warning": "0"}
    # Tonight: 20:00 incomplete 2/4, 22:00 in progress, 00:00 and 02:00 complete 4/4: 10 of 12 finished.
    browser.wait_text("#patrol-coverage", "83%")
    assert "3 of 4 rounds finished" in browser.text("#card-overview-patrol")
    overdue = browser.wait_element('#card-overview-tickets li[data-ticket-id="T-2"] .sla')
    assert "overdue" in str(overdue.get_attribute("class")) and overdue.text.startswith("overdue")
    assert overdue.value_of_css_property("color") in ("rgba(198, 40, 40, 1)", "rgba(239, 83, 80, 1)")
    on_time = browser.find('#card-overview-tickets li[data-ticket-id="T-1"] .sla')
    assert "overdue" not in str(on_time.get_attribute("class")) and "left" in on_time.text
    browser.screenshot("overview")


def test_ticket_pushed_over_sse_appears_without_reload_within_2_seconds(browser: Browser, site: Any) -> None:
    fake, url = site
    open_page(browser, url, "#/tickets")
    browser.wait_element('tr[data-ticket-id="T-1"]')
    wait_live(browser, fake)
    browser.js("window.__sameDocument = true;")
    new = ticket("T-9", "critical", "open", "lamp-b1-01", "b1", "Lamp out: B1 stairs", timedelta(hours=1))
    pushed = time.monotonic()
    fake.push("ticket", {**new, "change": "opened"})
    row = browser.wait_element('tr[data-ticket-id="T-9"]', timeout=SSE_WITHIN_S)
    took = time.monotonic() - pushed
    assert "Lamp out: B1 stairs" in row.text and took <= SSE_WITHIN_S
    assert browser.js("return window.__sameDocument === true;"), "the page reloaded instead of updating"
    assert "Lamp out: B1 stairs" in browser.text("#feed")


def test_acknowledge_posts_the_note_and_the_row_shows_the_new_state(browser: Browser, site: Any) -> None:
    fake, url = site
    open_page(browser, url, "#/tickets/T-1")
    browser.wait_text("#ticket-title", "Lamp out: B1 corridor")
    browser.find("#action-note").send_keys("on my way with a ladder")
    browser.find("#action-actor").send_keys("Li Ming")
    browser.find("button.action-ack").click()
    post = fake.wait_post("T-1", "ack")
    assert post["body"] == {"note": "on my way with a ladder", "actor": "Li Ming"}
    browser.wait_text('tr[data-ticket-id="T-1"] td.status', "Acknowledged")
    browser.wait_text("#action-result", "Acknowledged")
    assert "on my way with a ladder" in browser.text("#ticket-detail")
    assert browser.storage("sitegate.actor") == "Li Ming"


def test_a_refused_action_shows_the_servers_reason(browser: Browser, site: Any) -> None:
    fake, url = site
    open_page(browser, url, "#/tickets/T-2")
    browser.wait_text("#ticket-title", "Extinguisher pressure low")
    assert not browser.find("button.action-close").is_displayed(), "an open ticket is not offered close"
    # Someone else resolved it meanwhile, and no live event told this page: the server refuses.
    with fake.cond:
        fake.tickets["T-2"]["status"] = "resolved"
    browser.find("button.action-ack").click()
    fake.wait_post("T-2", "ack")
    result = browser.wait_text("#action-result", "409")
    assert "T-2 is resolved, so it cannot be acknowledged (ack)" in result.text
    assert "actions allowed now: close" in result.text
    assert result.get_attribute("role") == "alert"


def test_ticket_filters_narrow_the_list(browser: Browser, site: Any) -> None:
    fake, url = site
    open_page(browser, url, "#/tickets")
    browser.wait_element('tr[data-ticket-id="T-3"]')
    assert not browser.find_all('tr[data-ticket-id="T-4"]'), "a resolved ticket is not active"
    browser.js("const s = document.querySelector('#filter-zone'); s.value = 'north';"
               "s.dispatchEvent(new Event('change'));")
    browser.wait_for(lambda: row_ids(browser) == ["T-3"], "only the north zone's active ticket")
    browser.js("const s = document.querySelector('#filter-status'); s.value = 'resolved';"
               "s.dispatchEvent(new Event('change'));")
    fake.wait_request("/api/tickets", status="resolved")
    browser.wait_for(lambda: row_ids(browser) == ["T-4"], "the resolved ticket")


def test_language_switch_changes_labels_and_is_remembered(browser: Browser, site: Any) -> None:
    _, url = site
    open_page(browser, url)
    tickets_link = 'nav a[data-view="tickets"]'
    assert browser.text(tickets_link) == "Tickets"
    browser.find("#toggle-lang").click()
    browser.wait_text(tickets_link, "工单")
    browser.wait_text("#view-title", "总览")
    browser.wait_text("#card-overview-tickets", "紧急")
    assert browser.js("return document.documentElement.lang;") == "zh-CN"
    browser.open(f"{url}/#/overview")
    browser.wait_text(tickets_link, "工单")
    browser.find("#toggle-lang").click()
    browser.wait_text(tickets_link, "Tickets")
    assert browser.storage("sitegate.lang") == "en"


def test_device_page_draws_the_history_chart_from_the_series_api(browser: Browser, site: Any) -> None:
    fake, url = site
    open_page(browser, url, "#/devices/lamp-b1-01")
    browser.wait_text("#device-title", "lamp-b1-01")
    request = fake.wait_request("/api/series", measurement="reading", field="current_a", device="lamp-b1-01")
    span = datetime.fromisoformat(request["query"]["to"]) - datetime.fromisoformat(request["query"]["from"])
    assert span == timedelta(hours=1) and "step" not in request["query"]
    browser.wait_for(lambda: browser.find("#device-chart").get_attribute("data-points") == "30",
                     "the chart to hold the 30 points the API gave")
    canvas = browser.find("#device-chart canvas")
    assert canvas.size["width"] > 200 and canvas.size["height"] > 100
    browser.find('button[data-range="24h"]').click()
    stepped = fake.wait_request("/api/series", field="current_a", step="360s")
    assert datetime.fromisoformat(stepped["query"]["to"]) - datetime.fromisoformat(stepped["query"]["from"]) \
        == timedelta(hours=24)
    browser.screenshot("device")


def test_devices_are_grouped_by_zone_and_kind_and_a_device_event_updates_online_state(browser: Browser,
                                                                                       site: Any) -> None:
    fake, url = site
    open_page(browser, url, "#/devices")
    card = browser.wait_element('li[data-device-id="lux-n-01"]')
    assert card.find_element(By.CSS_SELECTOR, ".online").text == "online"
    zones = [s.get_attribute("data-zone") for s in browser.find_all("#device-list section.zone")]
    assert zones == ["b1", "north"]
    assert "Extinguishers" in browser.text('section.zone[data-zone="b1"]')
    wait_live(browser, fake)
    browser.js("window.__sameDocument = true;")
    now = iso(datetime.now(UTC))
    fake.push("device", {"device": "lux-n-01", "change": "offline", "source": "silence", "ts": now})
    browser.wait_text('li[data-device-id="lux-n-01"] .online', "offline", timeout=SSE_WITHIN_S)
    fake.push("reading", {"device": "ext-b1-01", "ts": now, "metrics": {"pressure_mpa": 0.61}})
    browser.wait_text('li[data-device-id="ext-b1-01"]', "0.61", timeout=SSE_WITHIN_S)
    assert browser.js("return window.__sameDocument === true;")


def test_an_unregistered_device_says_what_it_looks_like_and_how_to_register_it(browser: Browser,
                                                                                site: Any) -> None:
    fake, url = site
    fake.devices.append({**fake._device("ring-pt-3", "unknown", "unassigned", True, {"pressure_mpa": 0.28}, 0.95),
                         "registered": False, "suggested_kind": "extinguisher", "kind_source": None})
    open_page(browser, url, "#/devices")
    card = 'li[data-device-id="ring-pt-3"]'
    browser.wait_text(card, "Unregistered, looks like an extinguisher")
    assert "Unregistered" not in browser.text('li[data-device-id="ext-b1-01"]')  # registered ones say nothing
    browser.open(f"{url}/#/devices/ring-pt-3")
    browser.wait_text("#device-register", "inventory")
    assert "Unknown kind" in browser.text(".device-detail .facts")  # the guess is not shown as its kind
    browser.screenshot("device-unregistered")
    browser.find("#toggle-lang").click()
    browser.wait_text("#device-register", "未登记，疑似灭火器")
    browser.open(f"{url}/#/devices")
    browser.wait_text(card, "未登记，疑似灭火器")


def test_a_faulty_device_says_so_on_its_card_and_why_on_its_page(browser: Browser, site: Any) -> None:
    fake, url = site
    reason = "current_a 0.003 A < 0.02 A (lighting.lamp_out, minor, firing)"
    fake.devices.append({**fake._device("lamp-n-09", "lamp", "north", True, {"current_a": 0.003}, 0.45),
                         "health_band": "faulty", "health_reasons": [reason], "open_tickets": {}})
    open_page(browser, url, "#/devices")
    card = 'li[data-device-id="lamp-n-09"]'
    browser.wait_text(card, "faulty")
    assert "faulty" not in browser.text('li[data-device-id="ext-b1-01"]')  # no band given: nothing said
    browser.open(f"{url}/#/devices/lamp-n-09")
    browser.wait_text("#health-reasons", reason)
    assert "45% · faulty" in browser.text(".device-detail .facts")
    browser.screenshot("device-faulty")
    browser.find("#toggle-lang").click()
    browser.wait_text(".device-detail .facts", "故障")
    assert browser.text("#health-reasons") == reason  # the gateway's sentence, as it gave it


def test_patrol_page_shows_rounds_per_route_with_checkpoint_states_and_trend(browser: Browser, site: Any,
                                                                            shots: Path) -> None:
    _, url = site
    open_page(browser, url, "#/patrol")
    route = browser.wait_element('section.route[data-route="night-north"]')
    assert "北区夜巡 North night" in route.text
    today = datetime.now(TZ).date().isoformat()
    evening = browser.find(f'li.round[data-round-id="night-north-{today}T20"]')
    assert "Incomplete" in evening.text and "50%" in evening.text
    assert "Missed: 车库 Garage, 泳池 Pool" in evening.text
    evening.find_element(By.CSS_SELECTOR, "summary").click()
    states = {li.get_attribute("data-checkpoint"): li.find_element(By.CSS_SELECTOR, ".badge").text
              for li in evening.find_elements(By.CSS_SELECTOR, "li.cp")}
    assert states == {"cp-0": "Visited", "cp-1": "Visited", "cp-2": "Missed", "cp-3": "Missed"}
    late = browser.find(f'li.round[data-round-id="night-north-{today}T02"]')
    assert "1 late" in late.text
    browser.wait_for(lambda: browser.find("#coverage-chart").get_attribute("data-points") == "7",
                     "a coverage trend of 7 days")
    browser.screenshot("patrol")


def test_features_that_answer_404_show_not_available_and_the_rest_still_works(browser: Browser,
                                                                             site: Any) -> None:
    fake, url = site
    fake.disabled = {"/api/patrol", "/api/series", "/api/events"}
    open_page(browser, url)
    browser.wait_text("#card-overview-patrol", "Not available")
    browser.wait_text("#devices-online", "4 / 6")
    browser.wait_text("#live-state", "not available")
    browser.open(f"{url}/#/devices/lamp-b1-01")
    browser.wait_text("#chart-note", "not available")
    browser.wait_text("#device-title", "lamp-b1-01")


def test_a_401_asks_for_a_token_and_later_calls_send_it(browser: Browser, site: Any) -> None:
    fake, url = site
    fake.token = "s3cret-token"
    browser.open(f"{url}/#/overview")
    browser.wait_element("#token-dialog[open]")
    browser.find("#token-input").send_keys("s3cret-token")
    browser.find("#token-save").click()
    browser.wait_text("#devices-online", "4 / 6")
    wait_live(browser, fake)
    assert browser.storage("sitegate.token") == "s3cret-token"
    later = [r for r in fake.requests if r["path"] == "/api/events" and r["authorization"]]
    assert later and later[-1]["authorization"] == "Bearer s3cret-token"


PHONE_ROUTES = ["#/overview", "#/tickets/T-1", "#/devices", "#/devices/lamp-b1-01", "#/patrol"]


@pytest.mark.parametrize("route", PHONE_ROUTES)
def test_no_horizontal_scroll_on_a_375_px_phone(browser: Browser, site: Any, route: str) -> None:
    _, url = site
    browser.set_viewport(375, 800, mobile=True)
    open_page(browser, url, route)
    browser.wait_for(lambda: not browser.find_all(".notice") or "Loading" not in browser.text("#view"),
                     "the view to load")
    widths = browser.js("const d = document.documentElement; return [d.scrollWidth, d.clientWidth];")
    assert widths[0] <= widths[1], f"{route} is {widths[0]} px wide on a {widths[1]} px screen"
    if route == "#/overview":
        browser.screenshot("phone-overview")


def test_language_defaults_to_the_browsers_when_none_was_chosen(browser: Browser, site: Any) -> None:
    _, url = site
    browser.js("localStorage.removeItem('sitegate.lang');")
    agent = browser.js("return navigator.userAgent;")
    override = "Emulation.setUserAgentOverride"
    browser.driver.execute_cdp_cmd(override, {"userAgent": agent, "acceptLanguage": "zh-CN"})
    try:
        open_page(browser, url)
        assert browser.js("return navigator.language;") == "zh-CN"
        browser.wait_text('nav a[data-view="tickets"]', "工单")
    finally:
        browser.driver.execute_cdp_cmd(override, {"userAgent": agent, "acceptLanguage": "en-US"})
