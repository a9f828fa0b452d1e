"""Whether a page's layout holds: no word broken across lines, no sideways scrolling.

- A word broken mid-word: a run of letters or digits ("Location", "Warning", "2026") whose
  characters land on more than one line. Each run of every visible text node is measured with
  Range.getClientRects(): the distinct line tops of its boxes. Breaks between words, at a hyphen
  ("door-" / "b4-st2") or between Chinese characters are ordinary line breaks and allowed.
  Text inside an element marked `data-raw-wrap` (long free text a person wrote, e.g. a URL in a
  note, where breaking is better than overflowing) is left out.
- Sideways scrolling: document.scrollingElement.scrollWidth above the width of the screen. (On an
  emulated phone Chromium widens the layout viewport to what overflows, as a phone zooms out, so
  innerWidth grows with the page: the screen's width is the measure.) A wide table may scroll inside
  its own container (.table-wrap), the page itself may not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.browser import Browser


@dataclass(frozen=True)
class Broken:
    word: str
    lines: int
    text: str  # the whole text node, for finding it
    where: str

    def __str__(self) -> str:
        return f"{self.word!r} on {self.lines} lines in {self.text[:60]!r} at {self.where}"


_MEASURE = r"""
const screenWidth = arguments[0];
const RUN = /[A-Za-z0-9]{2,}/g;
function path(el) {
  const parts = [];
  for (let e = el; e && e.nodeType === 1 && parts.length < 4; e = e.parentElement) {
    let p = e.tagName.toLowerCase();
    if (e.id) { parts.unshift(p + "#" + e.id); break; }
    if (e.classList.length) p += "." + [...e.classList].slice(0, 2).join(".");
    parts.unshift(p);
  }
  return parts.join(" > ");
}
const broken = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!el || ["SCRIPT", "STYLE", "OPTION"].includes(el.tagName) || el.closest("[data-raw-wrap]")) continue;
  if (el.closest("dialog") && !el.closest("dialog").open) continue;
  if (!el.getClientRects().length) continue;
  const text = n.nodeValue;
  for (const m of text.matchAll(RUN)) {
    const range = document.createRange();
    range.setStart(n, m.index);
    range.setEnd(n, m.index + m[0].length);
    const tops = [];
    for (const r of range.getClientRects()) {
      if (r.width < 0.5 || r.height < 0.5) continue;
      if (!tops.some((t) => Math.abs(t - r.top) < r.height / 2)) tops.push(r.top);
    }
    if (tops.length > 1) broken.push([m[0], tops.length, text.trim(), path(el)]);
  }
}
const doc = document.scrollingElement;
const widest = [...document.body.querySelectorAll("*")]
  .filter((e) => e.getBoundingClientRect().right > screenWidth + 1 && !e.closest(".table-wrap")
    && getComputedStyle(e).position !== "fixed")
  .slice(0, 5).map((e) => path(e) + " right " + Math.round(e.getBoundingClientRect().right));
return {broken, scrollWidth: doc.scrollWidth, widest};
"""


@dataclass(frozen=True)
class Layout:
    broken: list[Broken]
    scroll_width: int
    screen_width: int
    too_wide: list[str]  # the first elements reaching past the screen's edge, when it scrolls sideways

    @property
    def scrolls_sideways(self) -> bool:
        return self.scroll_width > self.screen_width


def measure(browser: Browser, screen_width: int) -> Layout:
    found: dict[str, Any] = browser.js(_MEASURE, screen_width)
    return Layout([Broken(str(w), int(n), str(t), str(p)) for w, n, t, p in found["broken"]],
                  int(found["scrollWidth"]), screen_width, [str(x) for x in found["widest"]])
