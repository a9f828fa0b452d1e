"""Screenshots of every dashboard page in both languages at the three widths, in one command:

    make screenshots          # or: python -m tests.support.screenshots [OUT_DIR]

It starts mosquitto and a real `sitegate run` on the demo site, feeds it two simulated evening hours
with `sitegate simulate` (tests/support/demo_dashboard.py: the same night the browser tests look at),
opens every page of `PAGES` in headless Chromium and writes OUT_DIR/PAGE-LANG-WIDTH.png (default
docs/screenshots/, e.g. overview-zh-390.png) and OUT_DIR/README.md, their index. About 2 minutes.
Each shot is the first screen a person sees at that width (a phone 390x844, a laptop 1280x800, a
desktop 1920x1080), not the whole scrolled page, so the files stay small.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.support.browser import chromium
from tests.support.demo_dashboard import END, LANGS, PAGES, START, WIDTHS, demo_gateway, open_page, settle

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HEIGHTS = {390: 844, 1280: 800, 1920: 1080}
LANG_NAMES = {"en": "English", "zh": "中文"}


def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="sitegate-shots-") as tmp, demo_gateway(Path(tmp)) as demo, \
            chromium(Path(tmp) / "failures") as browser:
        for lang in LANGS:
            for page in PAGES:
                browser.set_viewport(1280, HEIGHTS[1280])
                open_page(browser, demo, page, lang)
                for width in WIDTHS:
                    browser.set_viewport(width, HEIGHTS[width], mobile=width < 600)
                    browser.js("window.scrollTo(0, 0);")
                    if page.name == "feed" and width < 600:  # on a phone the feed comes after the page
                        browser.js("const f = document.getElementById('feed'); "
                                   "(f.closest('aside, section') || f).scrollIntoView({block: 'start'});")
                    settle(browser, interval=0.2)
                    path = out / f"{page.name}-{lang}-{width}.png"
                    browser.driver.save_screenshot(str(path))
                    written.append(path)
    (out / "README.md").write_text(index(), encoding="utf-8")
    return written


def index() -> str:
    lines = ["# Dashboard screenshots", "",
             "Every page in both languages at 390 px (phone), 1280 px and 1920 px: the demo site "
             f"(examples/demo-site) on a real gateway after a simulated evening, {START:%Y-%m-%d %H:%M} to "
             f"{END:%H:%M} site time. Regenerate them all with `make screenshots` "
             "(`python -m tests.support.screenshots`, tests/support/screenshots.py).", ""]
    for page in PAGES:
        lines += [f"## {page.name}", "", "| | " + " | ".join(f"{w} px" for w in WIDTHS) + " |",
                  "|---|" + "---|" * len(WIDTHS)]
        for lang in LANGS:
            cells = [f"[![{page.name} {lang} {w}]({page.name}-{lang}-{w}.png)]({page.name}-{lang}-{w}.png)"
                     for w in WIDTHS]
            lines.append(f"| {LANG_NAMES[lang]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    began = time.monotonic()
    written = take(out)
    size = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} screenshots ({size / 1e6:.1f} MB) and README.md to {out} "
          f"in {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
