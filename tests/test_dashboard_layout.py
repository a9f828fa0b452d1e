"""Every dashboard page holds its layout at 390 px (a phone in a guard's hand), 1280 px and 1920 px,
in normal and in large type (the page's own "Large type": root font-size 150%), in English (and in
中文 at 390 px): no word broken across lines ("Loc / atio / n", "Warnin g") and no sideways scrolling of the
page (a wide table may scroll inside its own container). Real headless Chromium on a real gateway
(the demo site after two simulated evening hours through mosquitto; tests/support/demo_dashboard.py);
how a page is measured is in tests/support/pagelayout.py.

Each page is loaded once; widths, type size and language change in place. About 80 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import Browser, available, chromium
from tests.support.demo_dashboard import PAGES, WIDTHS, DemoGateway, Page, demo_gateway, open_page, settle
from tests.support.pagelayout import measure

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

HEIGHT = 900
# English everywhere (its words are the ones that break); 中文 on the phone, where space is shortest.
CASES = {w: [("en", False), ("en", True)] + ([("zh", False), ("zh", True)] if w < 600 else []) for w in WIDTHS}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoGateway]:
    with demo_gateway(tmp_path_factory.mktemp("layout-demo")) as gateway:
        yield gateway


class PageInBrowser:
    """One browser for the module that keeps the page loaded while a test changes only the width."""

    def __init__(self, browser: Browser, demo: DemoGateway) -> None:
        self.browser, self.demo, self.loaded = browser, demo, ""

    def show(self, page: Page, lang: str, large: bool, width: int) -> None:
        b = self.browser
        if self.loaded != page.name:
            b.set_viewport(1280, HEIGHT)
            open_page(b, self.demo, page, "en")
            self.loaded = page.name
        if b.js("return document.documentElement.lang;")[:2] != lang:
            b.js("document.getElementById('toggle-lang').click();")  # a modal (the token prompt) may cover it
        if (b.find("#toggle-large").get_attribute("aria-pressed") == "true") != large:
            b.js("document.getElementById('toggle-large').click();")
        b.set_viewport(width, HEIGHT, mobile=width < 600)
        settle(b, interval=0.15)


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory, demo: DemoGateway) -> Iterator[PageInBrowser]:
    with chromium(tmp_path_factory.mktemp("layout-shots")) as b:
        yield PageInBrowser(b, demo)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_word_is_broken_and_the_page_does_not_scroll_sideways(shown: PageInBrowser, page: Page,
                                                                 width: int) -> None:
    problems = []
    for lang, large in CASES[width]:
        shown.show(page, lang, large, width)
        layout = measure(shown.browser, width)
        # Not vacuous: the page is laid out for the screen asked (a phone's screen; a desktop window).
        assert width in shown.browser.js("return [screen.width, window.innerWidth];")
        where = f"{page.name} at {width} px, {lang}{', large type' if large else ''}"
        if layout.scrolls_sideways:
            problems.append(f"{where}: the page scrolls sideways ({layout.scroll_width} px wide); "
                            f"reaching past the edge: {layout.too_wide}")
        problems += [f"{where}: {b}" for b in layout.broken]
        if layout.scrolls_sideways or layout.broken:
            problems.append(f"  screenshot {shown.browser.screenshot(where.replace(' ', '_').replace(',', ''))}")
    assert not problems, "\n".join(problems)
