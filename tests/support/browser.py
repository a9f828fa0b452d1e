"""Headless Chromium through Selenium for the dashboard tests: Debian's chromium and chromium-driver,
no network of its own, a fresh profile in a temp dir, screenshots where the test asks.

    with chromium(tmp_path / "shots") as browser:
        browser.open(url)
        browser.wait_text("#view-title", "Overview")
        browser.screenshot("overview")
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = os.environ.get("SITEGATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SITEGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
# Without the network-quieting flags Chromium keeps trying to reach its update and sync services.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage")

# No name resolves, so nothing but a loopback address by number can be reached: a site without internet.
NO_NETWORK = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",)

T = TypeVar("T")


def available() -> str | None:
    """None when the browser can run here, else the reason (for pytest.skip)."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists() and shutil.which(path) is None:
            return f"{path} is missing; install Debian's {package} package (make system-deps)."
    return None


class Browser:
    """A thin layer over a WebDriver: waits that say what they waited for, screenshots, console logs."""

    def __init__(self, driver: webdriver.Chrome, screenshots: Path) -> None:
        self.driver = driver
        self.screenshots = screenshots
        screenshots.mkdir(parents=True, exist_ok=True)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait_for(self, check: Callable[[], T | bool | None], what: str, timeout: float = 5.0) -> T:
        """Poll `check` until it returns something truthy; an element that is missing or replaced
        mid-check counts as not yet. Fails with `what` and a screenshot."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = check()
                if value:
                    return value  # type: ignore[return-value]
            except (NoSuchElementException, StaleElementReferenceException):
                pass
            if time.monotonic() > deadline:
                shot = self.screenshot(f"timeout-{int(time.time() * 1000)}")
                raise AssertionError(f"Waited {timeout} s for {what}; the page at {self.driver.current_url} "
                                     f"never showed it (screenshot {shot}).")
            time.sleep(0.05)

    def wait_element(self, css: str, timeout: float = 5.0) -> WebElement:
        def visible() -> WebElement | None:
            el = self.find(css)
            return el if el.is_displayed() else None
        return self.wait_for(visible, f"a visible element {css!r}", timeout)

    def wait_text(self, css: str, text: str, timeout: float = 5.0) -> WebElement:
        def has_text() -> WebElement | None:
            el = self.find(css)
            return el if text in el.text else None
        return self.wait_for(has_text, f"{text!r} in {css!r}", timeout)

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def set_viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Emulate a screen size exactly (a headless window cannot shrink below a minimum width)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def reset_viewport(self) -> None:
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def screenshot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def console(self) -> list[dict[str, Any]]:
        """Browser console entries since the last call (errors, CSP violations, failed loads)."""
        return list(self.driver.get_log("browser"))  # type: ignore[no-untyped-call]

    def storage(self, key: str) -> str | None:
        value = self.js("return localStorage.getItem(arguments[0]);", key)
        return None if value is None else str(value)


@contextmanager
def chromium(screenshots: Path, *, width: int = 1400, height: int = 1000,
             lang: str = "en-US", flags: tuple[str, ...] = ()) -> Iterator[Browser]:
    """A headless Chromium with a fresh profile; quits and removes the profile afterwards. `flags`
    are added to the command line (e.g. NO_NETWORK)."""
    profile = Path(tempfile.mkdtemp(prefix="sitegate-chromium-"))
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, *flags, f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--lang={lang}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_log = profile.parent / f"{profile.name}.driver.log"
    service = Service(executable_path=CHROMEDRIVER, log_output=str(driver_log))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield Browser(driver, screenshots)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        driver_log.unlink(missing_ok=True)


def dump(value: Any) -> str:
    """Readable JSON for assertion messages."""
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)
