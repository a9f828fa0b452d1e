"""The Devices and Patrol pages in headless Chromium against a REAL gateway fed through mosquitto
(issue 13, "Devices" and "Patrol").

One gateway (site clock from 19:59 on 20 November 2026, 10x), one HTTP server and one browser for
the module. After dark in Shanghai (the sun set near 17:00), so every lamp must be lit. The expected
figures are worked out by hand from the rule pack (rules/*.yaml) and the health bands
(gateway/ingest/health.py): a pending minor costs 0.1, a firing major 0.4, and the figure is held
inside its band (degraded 0.5-0.75, faulty 0.1-0.45).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from selenium.webdriver.common.by import By

from gateway.app.features import attach_features
from gateway.core.clock import SiteClock
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.web.app import create_app
from tests.support.browser import Browser, available, dump
from tests.support.gateway_proc import wait_for
from tests.support.http_thread import ServerThread
from tests.support.mosquitto import mosquitto

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 20, 19, 59, tzinfo=TZ)
# 10 site seconds a second: the 20:00 round comes 6 s after start; a lamp's 10 min grace is a minute.
SPEED = 10.0

ASSETS = """device_id,kind,zone,location
lamp-dark,lamp,north,北区 North path
ext-low,extinguisher,b1,1号楼 B1 lobby
meter-1,power_meter,plant,配电房 Switch room
cp-gate,checkpoint_reader,north,北门 North gate
"""
SITE = """site: {{id: devx, name: 设备测试 Device test, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}}
mqtt: {{url: "{url}"}}
inventory: assets.csv
patrol: patrol.yaml
timeseries: {{embedded: true}}
"""
# One route at 20:00 and 02:00: one night, two rounds, on both sides of midnight.
PATROL = """checkpoints:
  - {id: cp-gate, name: 北门 North gate, zone: north, reader: cp-gate}
guards:
  - {id: G017, name: 王强 Wang Qiang, card: "G0017"}
routes:
  - id: night
    name: 夜巡 Night round
    schedule: "0 20,2 * * *"
    limit: 3m
    checkpoints: [{id: cp-gate, at: 0m, tolerance: 2m}]
"""
NIGHT = "2026-11-20"
EVENING, AFTER_MIDNIGHT = "night@2026-11-20T20:00+08:00", "night@2026-11-21T02:00+08:00"


@dataclass
class Site:
    gw: Gateway
    url: str
    api: httpx.Client
    devices: mqtt.Client

    def send(self, topic: str, payload: str) -> None:
        self.devices.publish(topic, payload.encode(), qos=1).wait_for_publish(5)

    def get(self, path: str, **params: str) -> Any:
        res = self.api.get(path, params=params)
        res.raise_for_status()
        return res.json()

    def device(self, device_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/api/devices/{device_id}")
        return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("devices-site")
    with mosquitto(root / "mosquitto") as broker:
        (root / "assets.csv").write_text(ASSETS)
        (root / "patrol.yaml").write_text(PATROL)
        (root / "site.yaml").write_text(SITE.format(url=broker.url))
        gw = Gateway(load_site(root / "site.yaml", Overrides(data=str(root / "data"))), clock=SiteClock(START, SPEED))
        attach_features(gw)
        devices = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="devices-page-devices")
        try:
            with ServerThread(create_app(gw)) as server, httpx.Client(base_url=server.url, timeout=5) as api:
                assert gw.mqtt is not None and gw.mqtt.connected.wait(10), "the gateway never reached mosquitto"
                devices.connect("127.0.0.1", broker.port)
                devices.loop_start()
                s = Site(gw=gw, url=server.url, api=api, devices=devices)
                # The guard taps the gate within the 20:00 round's window (19:58-20:02): a finished round.
                s.send("sitegate/devx/cp-gate/tap", '{"tag": "G0017"}')
                wait_for(lambda: [r["status"] for r in s.get("/api/patrol/rounds", day=NIGHT)
                                  if r["round_id"] == EVENING] == ["completed"], 30, "the 20:00 round completed")
                yield s
        finally:
            devices.loop_stop()
            devices.disconnect()


@pytest.fixture
def browser(site: Site, module_browser: Browser) -> Iterator[Browser]:
    """The shared browser in English; fails the test on CSP violations and JS errors."""
    module_browser.open(site.url + "/static/vendor/README.txt")
    module_browser.js("localStorage.clear(); localStorage.setItem('sitegate.lang', 'en');")
    module_browser.console()
    yield module_browser
    problems = [e["message"] for e in module_browser.console()
                if "Content Security Policy" in e["message"] or "Uncaught" in e["message"]]
    assert not problems, f"The page broke the gateway's CSP or threw: {dump(problems)}"


def open_page(browser: Browser, site: Site, route: str) -> None:
    browser.open(f"{site.url}/{route}")
    browser.wait_text("#site-name", "Device test")


def to_chinese(browser: Browser) -> None:
    browser.find("#toggle-lang").click()
    browser.wait_text('nav a[data-view="devices"]', "设备")


def cells(browser: Browser, css: str) -> dict[str, str]:
    """{data-metric or data-rule: [cell texts]} of a table's body rows."""
    rows: dict[str, str] = browser.js(
        "return Object.fromEntries([...document.querySelectorAll(arguments[0])].map((tr) => "
        "[tr.dataset.metric || tr.dataset.rule, [...tr.cells].map((c) => c.innerText.trim()).join(' | ')]));", css)
    return rows


# -- Devices -------------------------------------------------------------------------------------

def test_a_lamp_drawing_3_ma_after_dark_is_unhealthy_without_any_ticket(browser: Browser, site: Site) -> None:
    site.send("tele/lamp-dark/STATE", '{"POWER": "ON"}')
    site.send("tele/lamp-dark/SENSOR", '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.003}}')
    lamp = wait_for(lambda: (d := site.device("lamp-dark"))["health_band"] == "degraded" and d, 10,
                    "lamp-dark degraded")
    # lighting.lamp_out holds (0.003 A < 0.02 A after dark) and waits out its 10 min grace: pending.
    assert lamp["health"] == 0.75 and lamp["health"] < 1, dump(lamp)
    assert site.get("/api/tickets", device="lamp-dark") == []  # no ticket yet: health says it anyway
    assert any("current_a 0.003 A < 0.02 A" in r and "lighting.lamp_out" in r for r in lamp["health_reasons"])
    open_page(browser, site, "#/devices")
    browser.wait_text('li[data-device-id="lamp-dark"]', "degraded")
    browser.open(f"{site.url}/#/devices/lamp-dark")
    # Why, in words: the rule's own title, that it has not held for its full duration yet, the reading.
    browser.wait_text("#health-reasons",
                      "Minor · not yet for its full duration: 路灯不亮 Lamp out: lamp-dark — Current 0.003 A")
    assert site.get("/api/devices/lamp-dark")["health_reasons"][0].startswith("current_a 0.003 A < 0.02 A")
    browser.wait_text('#device-readings tr[data-metric="current_a"]', "0.003 A")  # not rounded to 0 A
    assert "75% · degraded" in browser.text(".device-detail .facts")
    browser.wait_text("#device-no-tickets", "No tickets for this device.")
    rules = browser.wait_for(lambda: cells(browser, "#device-rules tbody tr") or None, "the lamp's thresholds")
    assert rules["lighting.lamp_out"].split(" | ")[1:] == [
        "Current < 0.02 A or Power = false", "sun below -4° (dark)", "10m 00s", "Minor"], rules
    assert "fire.extinguisher_low" not in rules
    browser.screenshot("lamp-dark")


def test_an_extinguisher_at_055_mpa_is_faulty_with_its_ticket_and_threshold(browser: Browser, site: Site) -> None:
    site.send("sitegate/devx/ext-low/telemetry", '{"pressure_mpa": 0.55, "battery_pct": 90}')
    ext = wait_for(lambda: (d := site.device("ext-low"))["health_band"] == "faulty" and d, 10, "ext-low faulty")
    assert ext["health"] == 0.45, dump(ext)  # 1 - 0.4 (major, firing) = 0.6, held at the faulty band's 0.45
    ticket = wait_for(lambda: site.get("/api/tickets", device="ext-low"), 10, "the extinguisher's ticket")[0]
    assert (ticket["rule"], ticket["severity"]) == ("fire.extinguisher_low", "major")
    rules = site.get("/api/devices/ext-low/rules")["rules"]
    low = next(r for r in rules if r["id"] == "fire.extinguisher_low")
    assert (low["condition"], low["severity"], low["for"]) == ("pressure_mpa < 1 MPa", "major", None)
    assert not {"lighting.lamp_out", "fire.smoke"} & {r["id"] for r in rules}
    unknown = site.api.get("/api/devices/no-such-device/rules")
    assert unknown.status_code == 404 and "No device 'no-such-device'" in unknown.json()["detail"]
    open_page(browser, site, "#/devices")
    browser.wait_text('li[data-device-id="ext-low"]', "faulty")
    browser.open(f"{site.url}/#/devices/ext-low")
    browser.wait_text(f'#device-tickets li[data-ticket-id="{ticket["id"]}"]', "Extinguisher pressure low")
    rows = browser.wait_for(lambda: cells(browser, "#device-rules tbody tr") or None, "the thresholds")
    assert rows["fire.extinguisher_low"].split(" | ")[1:] == [
        "Pressure < 1 MPa (clears when Pressure > 1.1 MPa)", "always", "at once", "Major"], rows
    to_chinese(browser)
    browser.wait_text('#device-rules tr[data-rule="fire.extinguisher_low"]', "压力 < 1 MPa")
    assert "立即" in browser.text('#device-rules tr[data-rule="fire.extinguisher_low"]')
    browser.screenshot("extinguisher-low-zh")
    # On a guard's phone the page does not scroll sideways (the thresholds table scrolls in its own box).
    browser.set_viewport(390, 844, mobile=True)
    try:
        browser.wait_for(lambda: browser.js("return document.documentElement.scrollWidth;") <= 390,
                         "a page no wider than 390 px")
        browser.screenshot("extinguisher-low-zh-390")
    finally:
        browser.reset_viewport()


def test_every_metric_has_a_label_in_both_languages_with_its_unit(browser: Browser, site: Site) -> None:
    site.send("sitegate/devx/meter-1/telemetry",
              '{"current_a": 0.52, "current_a_2": 0.71, "voltage_v": 229.5, "flow_rate_m3h": 2.5}')
    meter = wait_for(lambda: (d := site.device("meter-1"))["metrics"].get("flow_rate_m3h") == 2.5 and d, 10, "meter-1")
    assert meter["labels"]["current_a_2"] == {"en": "Current ch.2", "zh": "电流 2路", "unit": "A"}
    open_page(browser, site, "#/devices/meter-1")
    english = {"current_a": "Current (A) | 0.52 A", "current_a_2": "Current ch.2 (A) | 0.71 A",
               "voltage_v": "Voltage (V) | 230 V", "flow_rate_m3h": "Flow rate m3h | 2.5"}
    def shown() -> dict[str, str]:
        return {k: v.rsplit(" | Chart", 1)[0] for k, v in cells(browser, "#device-readings tbody tr").items()}
    browser.wait_for(lambda: shown() == english, f"the readings {english}")
    to_chinese(browser)
    chinese = {"current_a": "电流 (A)", "current_a_2": "电流 2路 (A)", "voltage_v": "电压 (V)",
               "flow_rate_m3h": "Flow rate m3h"}  # a name outside the vocabulary: readable, as sent
    browser.wait_for(lambda: {k: v.split(" | ")[0] for k, v in cells(browser, "#device-readings tbody tr").items()}
                     == chinese, f"the readings {chinese}")
    assert not [th.text for th in browser.find_all("#device-readings th, .device-card dt") if "_" in th.text]
    browser.screenshot("meter-zh")


def test_an_unregistered_device_says_how_to_register_it(browser: Browser, site: Site) -> None:
    site.send("sitegate/devx/mystery-9/telemetry", '{"pressure_mpa": 1.2}')
    found = wait_for(lambda: (d := site.device("mystery-9"))["registered"] is False and d, 10, "mystery-9")
    open_page(browser, site, "#/devices")
    card = browser.wait_text('li[data-device-id="mystery-9"]', "Register this device")
    assert card.find_element(By.CSS_SELECTOR, "a.register-link").get_attribute("href").endswith("#/devices/mystery-9")
    browser.open(f"{site.url}/#/devices/mystery-9")
    browser.wait_text("#device-register", "Register this device")
    line = browser.text("#register-line")
    # device_id,kind,zone[,profile]: the id, a kind (the gateway's guess, else a placeholder), the zone to fill.
    assert line.startswith("mystery-9,") and ",<zone>" in line, line
    assert line.split(",")[1] == (found["suggested_kind"] or "<kind>"), line
    assert "assets.csv" in browser.text("#device-register")
    browser.screenshot("unregistered")
    to_chinese(browser)
    browser.wait_text("#device-register", "登记此设备")


# -- Patrol --------------------------------------------------------------------------------------

def test_the_patrol_page_of_a_night_shows_its_2000_and_0200_rounds(browser: Browser, site: Site) -> None:
    answer = site.get("/api/patrol/rounds", day=NIGHT)
    assert [r["round_id"] for r in answer] == [EVENING, AFTER_MIDNIGHT], dump(answer)
    open_page(browser, site, "#/patrol")
    assert browser.wait_for(lambda: browser.find("#patrol-date").get_attribute("value"), "a day") == NIGHT
    browser.wait_text(f'li.round[data-round-id="{EVENING}"]', "Completed")
    browser.wait_text(f'li.round[data-round-id="{AFTER_MIDNIGHT}"]', "02:00")
    assert browser.text("#patrol-day-span") == "Night of 2026-11-20: 2026-11-20 12:00 → 2026-11-21 12:00"
    assert browser.text('label[for="patrol-date"]') == "Patrol day"
    # The day reads as ISO whatever the browser's locale (a native date control would say 11/20/2026),
    # a day that does not exist is refused in place, and a real one is opened.
    field = browser.find("#patrol-date")
    assert field.get_attribute("type") == "text"
    browser.js("const f = document.getElementById('patrol-date'); f.value = '2026-11-31'; "
               "f.dispatchEvent(new Event('change'));")
    assert field.get_attribute("aria-invalid") == "true"
    assert browser.text("#patrol-day-span").startswith("Night of 2026-11-20")
    browser.js("const f = document.getElementById('patrol-date'); f.value = '2026-11-19'; "
               "f.dispatchEvent(new Event('change'));")
    browser.wait_for(lambda: browser.text("#patrol-day-span").startswith("Night of 2026-11-19"), "the night before")


def test_the_coverage_bars_carry_their_dates(browser: Browser, site: Site) -> None:
    open_page(browser, site, "#/patrol")
    week = [f"2026-11-{d}" for d in range(14, 21)]
    browser.wait_for(lambda: [li.get_attribute("data-date") for li in browser.find_all("#coverage-days li")] == week,
                     f"the days {week} under the chart")
    browser.wait_text('#coverage-days li[data-date="2026-11-20"]', "2026-11-20: 100%")
    assert browser.text('#coverage-days li[data-date="2026-11-14"]') == "2026-11-14: no finished rounds"
    browser.wait_for(lambda: browser.find("#coverage-chart").get_attribute("data-points") == "7",
                     "7 days on the axis, one with a bar")
    browser.js("document.querySelector('#coverage-days').scrollIntoView();")
    browser.screenshot("patrol-trend")
    to_chinese(browser)
    browser.wait_text('#coverage-days li[data-date="2026-11-20"]', "2026年11月20日：100%")
    legend = browser.text("#coverage-chart .u-legend")
    assert "日期" in legend and "Time" not in legend, legend  # uPlot's own word, put in the page's language


def test_the_patrol_tab_says_it_is_loading_instead_of_showing_blank_buttons(browser: Browser, site: Site) -> None:
    open_page(browser, site, "#/overview")
    # Hold every patrol answer until the test lets it go (same document: the hash route changes).
    browser.js("""
      window.__release = null;
      const held = new Promise((resolve) => { window.__release = resolve; });
      const real = window.fetch;
      window.fetch = (url, ...rest) => String(url).includes('/api/patrol/')
        ? held.then(() => real(url, ...rest)) : real(url, ...rest);
      location.hash = '#/patrol';""")
    browser.wait_text("#view-title", "Patrol")
    browser.wait_text("#patrol-summary", "Loading…")
    assert (browser.text("#patrol-prev"), browser.text("#patrol-next")) == ("◀", "▶")
    assert browser.find("#patrol-prev").get_attribute("aria-label") == "Previous day"
    assert browser.text('label[for="patrol-date"]') != ""
    browser.js("window.__release();")
    browser.wait_text(f'li.round[data-round-id="{EVENING}"]', "Completed")
