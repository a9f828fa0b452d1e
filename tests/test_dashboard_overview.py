"""The night-shift overview and the live feed (issue 13) in headless Chromium against a REAL gateway:
devices fed through mosquitto, the real rules and ticket service, the real auth policy.

The gateway runs on a FakeClock (gateway/core/clock.py) that the tests move by hand, so "1 h 26 min
overdue" is exact. The site file shortens two deadlines so the figures are easy to compute by hand:
a smoke alarm must be answered within 1 h, a dark lamp within 10 min. Each test gets its own gateway
(a second or two); mosquitto and the browser are shared by the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.app.features import attach_features
from gateway.auth.tokens import TokenStore
from gateway.core.clock import FakeClock
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.web.app import create_app
from tests.support.browser import Browser, available, dump
from tests.support.gateway_proc import wait_for
from tests.support.http_thread import ServerThread
from tests.support.mosquitto import Broker, mosquitto

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 20, 0, tzinfo=TZ)  # after dusk on a fixed night: lamps must be lit

ASSETS = """device_id,kind,zone,profile,topic,location
smoke-1,smoke_detector,b1,zigbee2mqtt,zigbee2mqtt/smoke-1,1号楼 5层楼梯间 B1 5F stairs
smoke-2,smoke_detector,b2,zigbee2mqtt,zigbee2mqtt/smoke-2,2号楼 3层楼梯间 B2 3F stairs
lamp-1,lamp,plaza,,,中心广场 东侧路灯 Plaza east path lamp 1
lamp-2,lamp,plaza,,,中心广场 东侧路灯 Plaza east path lamp 2
ext-1,extinguisher,b1,,,1号楼 1层消防箱 B1 1F fire cabinet
"""

SITE = """site: {{id: ov, name: 夜班测试 Night test, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}}
mqtt: {{url: "{url}"}}
inventory: assets.csv
timeseries: {{embedded: true}}
tickets:
  sla:
    rules:
      fire.smoke: {{respond: 1h, arrive: 1h, resolve: 2h}}
      lighting.lamp_out: {{respond: 10m, arrive: 10m, resolve: 10m}}
"""


@dataclass
class Night:
    gw: Gateway
    clock: FakeClock
    url: str
    api: httpx.Client
    tokens: dict[str, str]
    devices: mqtt.Client

    def send(self, topic: str, payload: str) -> None:
        self.devices.publish(topic, payload.encode(), qos=1).wait_for_publish(5)

    def get(self, path: str, **params: str) -> Any:
        res = self.api.get(path, params=params)
        res.raise_for_status()
        return res.json()

    def ticket(self, rule: str, device: str) -> dict[str, Any] | None:
        found = [t for t in self.get("/api/tickets", device=device) if t["rule"] == rule and t["status"] == "open"]
        return found[0] if found else None

    def smoke(self, device: str) -> dict[str, Any]:
        self.send(f"zigbee2mqtt/{device}", '{"smoke": true, "battery": 90}')
        return wait_for(lambda: self.ticket("fire.smoke", device), 10, f"the smoke ticket of {device}")  # type: ignore[no-any-return]

    def dark_lamp(self, device: str) -> dict[str, Any]:
        """A lamp switched on but drawing 3 mA, for 11 minutes (the rule's grace is 10)."""
        self.send(f"tele/{device}/STATE", '{"POWER": "ON"}')
        self.send(f"tele/{device}/SENSOR", '{"ENERGY": {"Power": 0.5, "Voltage": 229, "Current": 0.003}}')
        wait_for(lambda: self.get(f"/api/devices/{device}")["metrics"].get("current_a") == 0.003, 10,
                 f"{device}'s reading")
        self.clock.advance(timedelta(minutes=11))
        self.send(f"tele/{device}/SENSOR", '{"ENERGY": {"Power": 0.5, "Voltage": 229, "Current": 0.003}}')
        return wait_for(lambda: self.ticket("lighting.lamp_out", device), 10, f"the lamp-out ticket of {device}")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with mosquitto(tmp_path_factory.mktemp("overview-mosquitto")) as b:
        yield b


@pytest.fixture
def night(broker: Broker, tmp_path: Path) -> Iterator[Night]:
    """A fresh gateway at 20:00 site time on the FakeClock, served by uvicorn with the token policy."""
    (tmp_path / "assets.csv").write_text(ASSETS)
    (tmp_path / "site.yaml").write_text(SITE.format(url=broker.url))
    site = load_site(tmp_path / "site.yaml", Overrides(data=str(tmp_path / "data")))
    clock = FakeClock(T0)
    gw = Gateway(site, clock=clock)
    attach_features(gw)
    tokens = TokenStore.in_dir(tmp_path / "data")
    secrets = {role: tokens.create(f"{role} on nights", role).secret for role in ("viewer", "engineer")}
    devices = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"overview-devices-{tmp_path.name}")
    try:
        with ServerThread(create_app(gw, tokens=tokens, read_open=True)) as server, \
                httpx.Client(base_url=server.url, timeout=5) as api:
            assert gw.mqtt is not None and gw.mqtt.connected.wait(10), "the gateway never reached mosquitto"
            devices.connect("127.0.0.1", broker.port)
            devices.loop_start()
            yield Night(gw=gw, clock=clock, url=server.url, api=api, tokens=secrets, devices=devices)
    finally:
        devices.loop_stop()
        devices.disconnect()
        tokens.close()


@pytest.fixture
def browser(module_browser: Browser) -> Iterator[Browser]:
    module_browser.console()
    yield module_browser
    problems = [e["message"] for e in module_browser.console()
                if "Content Security Policy" in e["message"] or "Uncaught" in e["message"]]
    assert not problems, f"The page broke the gateway's CSP or threw: {dump(problems)}"


def open_page(browser: Browser, night: Night, *, lang: str = "en", token: str | None = None,
              prefs: dict[str, str] | None = None, before: str = "") -> None:
    browser.open(f"{night.url}/static/vendor/README.txt")  # same origin, no app running
    settings = {"sitegate.lang": lang, **({"sitegate.token": token} if token else {}), **(prefs or {})}
    browser.js("localStorage.clear(); for (const [k, v] of Object.entries(arguments[0])) localStorage.setItem(k, v);",
               settings)
    browser.open(f"{night.url}/#/overview")
    browser.wait_text("#site-name", "Night test")
    browser.wait_for(lambda: browser.find("#live-state").get_attribute("data-state") == "live",
                     "the live feed to connect to /api/events")
    if before:
        browser.js(before)


def level(browser: Browser) -> str:
    return str(browser.find("#site-level").get_attribute("data-level"))


def reason(browser: Browser, code: str) -> str:
    return str(browser.find(f'#status-reasons li[data-code="{code}"]').text)


def test_dark_lamps_make_the_site_status_amber_never_green(browser: Browser, night: Night) -> None:
    night.dark_lamp("lamp-1")
    status = night.get("/api/status")
    assert status["level"] == "amber", dump(status["reasons"])
    faulty = [r for r in status["reasons"] if r["code"] == "devices_faulty"]
    assert faulty and faulty[0]["devices"] == ["lamp-1"], dump(status["reasons"])
    assert faulty[0]["text_en"] == "1 device faulty (lamp ×1): 中心广场 东侧路灯 Plaza east path lamp 1"
    assert faulty[0]["text_zh"] == "1 台设备故障（路灯 ×1）：中心广场 东侧路灯 Plaza east path lamp 1"
    assert status["gateway"]["mqtt"] == "connected"  # the gateway's health is apart, and fine

    open_page(browser, night)
    browser.wait_for(lambda: level(browser) == "amber", "the site status to be amber")
    assert "Plaza east path lamp 1" in reason(browser, "devices_faulty")
    assert browser.text("#site-level") == "Attention"
    assert "All clear" not in browser.text("#card-overview-status")
    browser.screenshot("overview-amber-dark-lamp")


def test_a_critical_smoke_alarm_overdue_makes_the_status_red_with_its_reason_in_both_languages(
        browser: Browser, night: Night) -> None:
    ticket = night.smoke("smoke-1")
    # By hand: opened at 20:00, answer within 1 h (the site's rule override) -> due 21:00.
    assert datetime.fromisoformat(ticket["due_at"]) == T0 + timedelta(hours=1), ticket["due_at"]
    night.clock.set(T0 + timedelta(hours=2, minutes=26))  # 22:26: 1 h 26 min past 21:00
    status = night.get("/api/status")
    assert status["level"] == "red"
    first = status["reasons"][0]
    assert first["code"] == "critical_overdue" and first["tickets"] == [ticket["id"]], dump(status["reasons"])
    title = ticket["title"].removesuffix(": smoke-1")
    place = "1号楼 5层楼梯间 B1 5F stairs"
    assert first["text_en"] == f"1 critical overdue 1 h 26 min: {title} {place}"
    assert first["text_zh"] == f"1 个紧急工单超时 1 小时 26 分：{title} {place}"
    assert first["params"]["overdue_s"] == 86 * 60

    open_page(browser, night)
    browser.wait_for(lambda: level(browser) == "red", "the site status to be red")
    assert browser.text("#site-level") == "Action needed"
    assert reason(browser, "critical_overdue") == first["text_en"]
    assert "fire_alarm" in [li.get_attribute("data-code") for li in browser.find_all("#status-reasons li")]
    browser.screenshot("overview-red-smoke-en")
    browser.find("#toggle-lang").click()
    browser.wait_for(lambda: browser.text("#site-level") == "需要立即处理", "the status in Chinese")
    assert reason(browser, "critical_overdue") == first["text_zh"]
    assert "1 小时 26 分" in browser.text("#card-overview-status")
    browser.screenshot("overview-red-smoke-zh")


def test_needs_action_lists_overdue_first_then_severity_with_place_and_owner(browser: Browser, night: Night) -> None:
    smoke1 = night.smoke("smoke-1")  # 20:00, critical, due 21:00
    lamp = night.dark_lamp("lamp-2")  # 20:11, minor, due 20:21
    night.clock.set(T0 + timedelta(hours=2, minutes=26))
    smoke2 = night.smoke("smoke-2")  # 22:26, critical, due 23:26: not overdue
    # By hand at 22:26: smoke-1 and the lamp are overdue, smoke-2 is not. Overdue first (critical
    # before minor), then the critical smoke-2 although it is more severe than the lamp.
    # Last, the two lamps' "silent" tickets (minor, not overdue), the older first.
    silent = [night.get("/api/tickets", device=d, status="open") for d in ("lamp-1", "lamp-2")]
    silent_ids = [next(t["id"] for t in found if t["rule"] == "health.silent") for found in silent]
    expected = [smoke1["id"], lamp["id"], smoke2["id"], *silent_ids]
    got = night.get("/api/status")["needs_action"]
    assert [t["id"] for t in got] == expected, dump([(t["id"], t["rule"], t["device_id"], t["due_at"]) for t in got])
    assert got[0]["place"] == "1号楼 5层楼梯间 B1 5F stairs" and got[0]["overdue_s"] == 86 * 60

    open_page(browser, night)

    def order() -> list[str]:
        return [str(li.get_attribute("data-ticket-id")) for li in browser.find_all("#needs-action > li")]
    browser.wait_for(lambda: order() == expected, f"the needs-action order {expected}")
    first = browser.find(f'#needs-action li[data-ticket-id="{smoke1["id"]}"]')
    assert "1号楼 5层楼梯间 B1 5F stairs" in first.text  # the place from the inventory
    assert "2026-11-20 20:00" in first.text  # since when, site time
    assert "Unassigned" in first.text
    assert "overdue 1h 26m" in first.text
    lamp_item = browser.find(f'#needs-action li[data-ticket-id="{lamp["id"]}"]')
    assert "Plaza east path lamp 2" in lamp_item.text
    browser.screenshot("overview-needs-action")


def buttons(browser: Browser, ticket_id: str) -> list[str]:
    return [str(b.get_attribute("data-action"))
            for b in browser.find_all(f'#needs-action li[data-ticket-id="{ticket_id}"] button.na-action')]


def test_a_viewer_sees_no_action_buttons_and_an_engineer_acts_from_the_overview(
        browser: Browser, night: Night) -> None:
    ticket = night.smoke("smoke-1")
    open_page(browser, night, token=night.tokens["viewer"])
    browser.wait_element(f'#needs-action li[data-ticket-id="{ticket["id"]}"]')
    browser.wait_for(lambda: buttons(browser, ticket["id"]) == [] and browser.js(
        "return performance.getEntriesByType('resource').some((e) => e.name.endsWith('/api/auth/me'));"),
        "the viewer's buttons to go once /api/auth/me has answered")

    open_page(browser, night, token=night.tokens["engineer"])
    browser.wait_for(lambda: buttons(browser, ticket["id"]) == ["accept", "ack", "arrive"],
                     "accept, acknowledge and on-site buttons for the engineer")
    browser.find(f'#needs-action li[data-ticket-id="{ticket["id"]}"] button[data-action="ack"]').click()
    done = wait_for(lambda: night.get(f"/api/tickets/{ticket['id']}")["status"] == "acknowledged"
                    and night.get(f"/api/tickets/{ticket['id']}"), 10, "the ticket to be acknowledged")
    assert done["history"][-1]["actor"] == "engineer on nights"  # the token's holder
    browser.wait_for(lambda: buttons(browser, ticket["id"]) == ["accept", "arrive"],
                     "the buttons an acknowledged ticket offers (no second acknowledge)")


def feed_items(browser: Browser, kind: str) -> list[Any]:
    return browser.find_all(f'#feed li[data-type="{kind}"]')


def test_the_feed_hides_readings_until_asked_and_keeps_the_alerts_with_their_place(
        browser: Browser, night: Night) -> None:
    open_page(browser, night)
    assert browser.find("#feed-readings").get_attribute("aria-pressed") == "false"
    night.send("sitegate/ov/ext-1/telemetry", '{"pressure_mpa": 1.21}')
    browser.wait_for(lambda: feed_items(browser, "reading"), "the reading to reach the page")
    assert not any(li.is_displayed() for li in feed_items(browser, "reading")), "readings shown by default"
    night.smoke("smoke-2")
    ticket_line = browser.wait_for(lambda: next((li for li in feed_items(browser, "ticket")
                                                 if "opened" in li.text and "smoke-2" in li.text), None),
                                   "the line of the new ticket")
    assert "2号楼 3层楼梯间 B2 3F stairs" in ticket_line.text and "20:00:00" in ticket_line.text
    assert "alert" in str(ticket_line.get_attribute("class"))

    browser.find("#feed-readings").click()
    browser.wait_for(lambda: all(li.is_displayed() for li in feed_items(browser, "reading")), "readings shown")
    ext = next(li for li in feed_items(browser, "reading") if "ext-1" in li.text)
    assert "1号楼 1层消防箱 B1 1F fire cabinet" in ext.text  # its place, from the inventory
    assert browser.storage("sitegate.feed.readings") == "1"
    # A burst of readings does not push the ticket out.
    for i in range(40):
        night.send("sitegate/ov/ext-1/telemetry", f'{{"pressure_mpa": {1.2 + i / 1000:.3f}}}')
    browser.wait_for(lambda: len(feed_items(browser, "reading")) == 20, "the readings capped at 20")
    assert any("smoke-2" in li.text for li in feed_items(browser, "ticket"))
    # Remembered across a reload.
    browser.open(f"{night.url}/#/overview")
    browser.wait_for(lambda: browser.find("#feed-readings").get_attribute("aria-pressed") == "true",
                     "the readings toggle remembered")


NOTIFICATION_STUB = """
window.__notes = []; window.__asked = 0;
window.Notification = class {
  constructor(title, options) { window.__notes.push({title, body: options && options.body}); }
  static requestPermission() {
    window.__asked++;
    window.Notification.permission = "granted";
    return Promise.resolve("granted");
  }
};
window.Notification.permission = "default";
"""


def test_a_new_critical_ticket_notifies_only_after_the_person_allowed_it(browser: Browser, night: Night) -> None:
    open_page(browser, night, before=NOTIFICATION_STUB)
    assert browser.find("#feed-alerts").get_attribute("aria-pressed") == "false"  # off by default
    night.smoke("smoke-1")
    browser.wait_for(lambda: any("smoke-1" in li.text for li in feed_items(browser, "ticket")), "the first alarm")
    assert browser.js("return window.__notes.length;") == 0, "notified without being allowed"

    browser.find("#feed-alerts").click()
    browser.wait_for(lambda: browser.js("return window.__asked;") == 1, "the page to ask for permission")
    assert browser.text("#feed-alerts") == "Alert me: on"
    night.smoke("smoke-2")
    notes = browser.wait_for(lambda: browser.js("return window.__notes;"), "a notification for smoke-2")
    assert len(notes) == 1 and notes[0]["title"] == "New critical ticket" and "smoke-2" in notes[0]["body"], notes
    night.send("zigbee2mqtt/lamp-1", '{"state": "ON"}')  # anything else: no further notification
    assert browser.storage("sitegate.feed.alerts") == "1"
