"""What a page shows in words, and which of those words are in the wrong language.

The rule (tests/test_dashboard_i18n.py applies it to every page):

- Looked at: every visible text node of the page, and the words a person meets without them being
  text nodes: `placeholder`, `title` and `aria-label` attributes, the options of a <select>, the
  value of an <input type=button|submit>, and the document's title.
- Left out: anything inside an element marked `data-raw` (data as the site or a person wrote it:
  ticket titles from the rules' annotations, notes, device locations), <code>, <kbd>, <pre>,
  <script>, <style>, and elements that say they are in another language with a `lang` attribute
  (the language switch shows "中文" in the English page on purpose).
- A text is bilingual when it has both a Chinese character and an English word: allowed in both
  languages (the site name "海景花园 Harbor View", owners such as "1号楼 B1 team").
- In Chinese a text fails when it has no Chinese character and has an English word: three or more
  ASCII letters in a row, standing alone (not part of a token with digits, '-', '_', '.', '/', ':'
  such as device ids, ISO dates and topics), and neither a data value the gateway itself reports
  (a zone, device, route or checkpoint id: `data_words`) nor in `ALLOWED` (units and acronyms that
  are the same in both languages).
- In English a text fails when it has a Chinese character and no English word.
- In both, a text that looks like a label's key ("tickets.assignee": what `t()` shows for a key
  missing from the tables) fails unless it is a data value (rule ids look the same), and so does a
  text holding a raw snake_case name ("current_a", "pressure_mpa": a metric or field the gateway
  names, which a person should read in words).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.support.browser import Browser

# The same in both languages: units, protocols and acronyms a Chinese engineer reads as they are.
ALLOWED = frozenset({
    "MPa", "kPa", "lux", "kWh", "dBm", "mAh", "MQTT", "API", "CSV", "JSON", "SLA", "RFID", "NFC", "Sitegate",
    "OK", "PDF", "URL", "HTTP", "ISO", "CPU", "LWT", "UTC", "GMT",
})
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# A token: a run of non-space characters; a word is a token of letters only (trailing punctuation off).
TOKEN = re.compile(r"[^\s,;()（）\[\]【】「」:：、，。·…\"'“”‘’!?！？|/]+")
WORD = re.compile(r"^[A-Za-z]{3,}$")
SNAKE = re.compile(r"(?<![\w.-])[a-z]+(?:_[a-z0-9]+)+(?![\w-])")
KEY = re.compile(r"^[a-z]+(?:_[a-z]+)*(?:\.[a-z0-9_]+)+$")


@dataclass(frozen=True)
class Text:
    text: str
    where: str  # a short CSS-like path of the element, or "attr NAME of PATH"

    def __str__(self) -> str:
        return f"{self.text!r} at {self.where}"


# Runs in the page: the texts described above with where they are.
_COLLECT = r"""
const SKIP = new Set(["SCRIPT", "STYLE", "CODE", "KBD", "PRE", "NOSCRIPT", "TEMPLATE"]);
const docLang = (document.documentElement.lang || "en").slice(0, 2);
function excluded(el) {
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    if (SKIP.has(e.tagName) || e.hasAttribute("data-raw")) return true;
    const l = e.getAttribute("lang");
    if (l && e !== document.documentElement && l.slice(0, 2) !== docLang) return true;
  }
  return false;
}
function visible(el) {
  if (el.closest("dialog") && !el.closest("dialog").open) return false;
  if (el.checkVisibility && !el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return false;
  return el.getClientRects().length > 0;
}
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
const out = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const text = n.nodeValue.trim();
  const el = n.parentElement;
  if (!text || !el || el.tagName === "OPTION" || excluded(el) || !visible(el)) continue;
  out.push([text, path(el)]);
}
for (const el of document.body.querySelectorAll("[placeholder], [title], [aria-label], select, input")) {
  if (excluded(el) || !visible(el)) continue;
  for (const attr of ["placeholder", "title", "aria-label"]) {
    const v = (el.getAttribute(attr) || "").trim();
    if (v) out.push([v, "attr " + attr + " of " + path(el)]);
  }
  if (el.tagName === "SELECT") {
    for (const o of el.options) {
      if (o.text.trim() && !o.hasAttribute("data-raw")) out.push([o.text.trim(), "option of " + path(el)]);
    }
  }
  if (el.tagName === "INPUT" && ["button", "submit", "reset"].includes(el.type) && el.value) {
    out.push([el.value, "value of " + path(el)]);
  }
}
if (document.title.trim()) out.push([document.title.trim(), "document title"]);
return out;
"""


def visible_texts(browser: Browser) -> list[Text]:
    return [Text(str(text), str(where)) for text, where in browser.js(_COLLECT)]


def english_words(text: str, data_words: Iterable[str] = ()) -> list[str]:
    """The English words of `text` that are not data values or allowed as they are."""
    data = set(data_words)
    words = []
    for token in TOKEN.findall(text):
        token = token.strip(".-_*+=~<>")
        if WORD.match(token) and token not in ALLOWED and token not in data:
            words.append(token)
    return words


def has_english(text: str) -> bool:
    return any(WORD.match(token.strip(".-_*+=~<>")) for token in TOKEN.findall(text))


def wrong_language(texts: Iterable[Text], lang: str, data_words: Iterable[str] = ()) -> list[Text]:
    """The texts that are in the other language only (see the module's rule)."""
    data = frozenset(data_words)
    found = []
    for item in texts:
        chinese = bool(CJK.search(item.text))
        missing_label = (bool(KEY.match(item.text)) and item.text not in data) or any(
            name not in data for name in SNAKE.findall(item.text))
        english_only = not chinese and bool(english_words(item.text, data))
        chinese_only = chinese and not has_english(item.text)
        if missing_label or (lang == "zh" and english_only) or (lang == "en" and chinese_only):
            found.append(item)
    return found


def site_data_words(api: Any) -> set[str]:
    """Identifiers the gateway reports (zones, devices, routes, checkpoints, rules): data values that
    are shown as they are in both languages. `api(path, **params)` answers the gateway's JSON."""
    words: set[str] = set()
    for d in api("/api/devices"):
        words.update(str(d.get(k)) for k in ("id", "zone") if d.get(k))
    for t in api("/api/tickets", limit=5000):
        words.update(str(t.get(k)) for k in ("zone", "device_id", "rule", "id") if t.get(k))
    return {w for w in words if w and w != "None"}
