"""Every visible string of every dashboard page in the language chosen: real headless Chromium on a
real gateway (the demo site after two simulated evening hours through mosquitto; see
tests/support/demo_dashboard.py). Each page is switched to 中文 and to English with the page's
language button and fails on any
English-only label left in Chinese or Chinese-only label in English, by the rule written out in
tests/support/pagetext.py (bilingual text and data values such as ids, numbers, units and ISO dates
are allowed; elements marked `data-raw` hold data as the site or a person wrote it).

A page added to the dashboard is added to `PAGES` in tests/support/demo_dashboard.py and is then
checked here too. About 50 s: 25 s to run the evening, then about 1.5 s a page and language.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import Browser, available, chromium
from tests.support.demo_dashboard import LANGS, PAGES, DemoGateway, Page, demo_gateway, open_page, settle
from tests.support.pagetext import Text, site_data_words, visible_texts, wrong_language

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

DATA = ("lamp-b1-01", "b1", "night-south")  # ids the demo site certainly reports


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoGateway]:
    with demo_gateway(tmp_path_factory.mktemp("i18n-demo")) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with chromium(tmp_path_factory.mktemp("i18n-shots")) as b:
        yield b


@pytest.fixture(scope="module")
def data_words(demo: DemoGateway) -> set[str]:
    return site_data_words(demo.get)


# The rule itself, on hand-written cases (what a page could show, and the verdict a reader gives).
@pytest.mark.parametrize(("text", "lang", "wrong"), [
    ("Warning", "zh", True), ("Open tickets", "zh", True), ("(schedule)", "zh", True), ("Time", "zh", True),
    ("告警", "zh", False), ("海景花园 Harbor View", "zh", False), ("1号楼 B1 team", "zh", False),
    ("lamp-b1-01", "zh", False), ("2026-11-18 20:54", "zh", False), ("1.25 MPa", "zh", False),
    ("221 / 221", "zh", False), ("b1", "zh", False), ("night-south", "zh", False), ("—", "zh", False),
    ("巡更", "en", True), ("剩余 2小时 29分", "en", True), ("海景花园 Harbor View", "en", False),
    ("Open tickets", "en", False), ("lamp-b1-01", "en", False),
    ("tickets.assignee", "en", True), ("tickets.assignee", "zh", True), ("fire.battery_low", "zh", False),
    ("current_a 0.003 A", "en", True), ("电流 current_a_2", "zh", True), ("(fire.battery_low, 轻微)", "zh", False),
])
def test_the_rule_flags_only_text_in_the_other_language(text: str, lang: str, wrong: bool) -> None:
    data = {"fire.battery_low", "night-south", "lamp-b1-01", "b1"}
    assert bool(wrong_language([Text(text, "here")], lang, data)) is wrong


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_visible_label_is_in_the_chosen_language(browser: Browser, demo: DemoGateway, data_words: set[str],
                                                       page: Page, lang: str) -> None:
    # Opened in the other language and switched with the page's own button, as a person does: what
    # was drawn before the switch must follow it too (feed lines, open dialogs, filters).
    open_page(browser, demo, page, "en" if lang == "zh" else "zh")
    browser.js("document.getElementById('toggle-lang').click();")
    settle(browser)
    texts = visible_texts(browser)
    # Not vacuous: the page shows its data and the header, in the page's language.
    assert len(texts) >= 15, texts
    assert browser.js("return document.documentElement.lang;") == ("zh-CN" if lang == "zh" else "en")
    wrong = wrong_language(texts, lang, data_words)
    if wrong:
        shot = browser.screenshot(f"i18n-{page.name}-{lang}")
        pytest.fail(f"{page.name} in {lang}: {len(wrong)} label(s) in the other language (screenshot {shot}):\n"
                    + "\n".join(f"  {w}" for w in wrong))


def test_the_site_data_words_are_ids_not_labels(data_words: set[str]) -> None:
    assert set(DATA) <= data_words and not {"Open", "Warning", "Time", "schedule"} & data_words
