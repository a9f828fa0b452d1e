"""The dashboard's files and how they are served, without a browser: fast checks of what the page
needs to work offline under its Content-Security-Policy, and of its two languages."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.web.dashboard import STATIC_DIR, make_dashboard_router

ASSETS = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
# The API docs viewer (vendor/swagger-ui*) is not part of the page; its bundle names web sites in
# its own text (links, defaults). tests/test_api_docs.py loads /docs with the network cut instead.
TEXT_ASSETS = [p for p in ASSETS if p.suffix in (".html", ".js", ".css") and not p.name.startswith("swagger-ui")]
OWN_JS = [p for p in ASSETS if p.suffix == ".js" and p.parent == STATIC_DIR]
# The vendored files, byte for byte as `npm pack uplot@1.6.32` ships them (see vendor/README.txt).
VENDOR_SHA256 = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
}
# Words of the API that the page shows translated (CONTRACT.md and the gateway's own values).
ENUMS = {
    "severity": ["critical", "major", "minor", "warning"],
    "status": ["open", "acknowledged", "resolved", "closed", "cancelled"],
    "cp_state": ["visited", "late", "missed", "pending"],
    "round_status": ["scheduled", "in_progress", "completed", "incomplete"],
    "event": ["reading", "tap", "ticket", "device", "round", "hello"],
    "kind": ["lamp", "lux_sensor", "power_meter", "extinguisher", "hydrant", "sprinkler", "smoke_detector",
             "fire_door", "checkpoint_reader", "handheld_reader"],
    # One device of a kind, for "unregistered, looks like an extinguisher" (`kind` labels are plural).
    "kind_one": ["lamp", "lux_sensor", "power_meter", "extinguisher", "hydrant", "sprinkler", "smoke_detector",
                 "fire_door", "checkpoint_reader", "handheld_reader"],
    "metric": ["power_on", "current_a", "power_w", "voltage_v", "energy_kwh", "illuminance_lux",
               "pressure_mpa", "temperature_c", "battery_pct", "battery_low", "smoke", "tamper", "door_open",
               "signal"],
    "health": ["ok", "degraded"],
    "mqtt": ["connected", "disconnected"],
    "timeseries": ["ok", "buffering", "down"],
    "tap_result": ["ok", "unknown_tag", "out_of_order", "duplicate", "off_schedule"],
    # The service loop (docs/tickets.md): where a request came from, its category, stages and revisit.
    "source": ["sensor", "patrol", "complaint", "repair", "planned"],
    "channel": ["phone", "desk", "online", "patrol"],
    "category": ["service", "management", "facility", "lift", "water", "power", "lighting", "fire", "security",
                 "plumbing", "hvac", "device", "general"],
    "stage": ["respond", "arrive", "resolve", "revisit"],
    "stage_state": ["late", "on_time", "not_done"],
    "revisit_result": ["ok", "failed"],
    "action": ["opened", "accepted", "arrived", "resolved", "revisited", "revisit_failed", "revisit_overdue",
               "feedback", "closed", "reopened", "cancelled"],
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(make_dashboard_router())
    return TestClient(app)


def strings() -> dict[str, dict[str, str]]:
    source = (STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    found = re.search(r"/\* STRINGS-JSON-BEGIN \*/(.*)/\* STRINGS-JSON-END \*/", source, re.S)
    assert found, "i18n.js lost its STRINGS-JSON-BEGIN/END markers around the string tables."
    tables: dict[str, dict[str, str]] = json.loads(found.group(1))
    return tables


def test_the_page_is_served_at_root_as_html_with_a_strict_csp(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"):
        assert directive in csp
    assert "unsafe" not in csp and "http" not in csp
    assert '<script type="module" src="/static/app.js">' in r.text


@pytest.mark.parametrize("path", ASSETS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_every_asset_is_served_with_its_content_type_and_revalidates_with_etag(client: TestClient,
                                                                               path: Path) -> None:
    rel = path.relative_to(STATIC_DIR).as_posix()
    r = client.get(f"/static/{rel}")
    assert r.status_code == 200 and r.content == path.read_bytes()
    expected = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8",
                ".LICENSE": "text/plain; charset=utf-8"}[path.suffix]
    assert r.headers["content-type"] == expected
    assert r.headers["x-content-type-options"] == "nosniff"
    vendored = path.parent.name == "vendor"
    assert r.headers["cache-control"] == ("public, max-age=86400" if vendored else "no-cache")
    again = client.get(f"/static/{rel}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_head_answers_the_length_without_a_body(client: TestClient) -> None:
    r = client.head("/static/app.js")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) == (STATIC_DIR / "app.js").stat().st_size


@pytest.mark.parametrize("path", ["../api/dashboard.py", "..%2Fapi%2Fdashboard.py", "%2e%2e/api/dashboard.py",
                                  "vendor/../../api/dashboard.py", ".hidden", "nope.js", "vendor", ""])
def test_nothing_outside_the_static_folder_or_missing_is_served(client: TestClient, path: str) -> None:
    r = client.get(f"/static/{path}")
    assert r.status_code == 404
    assert "def make_dashboard_router" not in r.text


def test_paths_that_climb_out_are_refused_before_touching_the_disk() -> None:
    from gateway.web.dashboard import _resolve
    assert _resolve(STATIC_DIR.resolve(), "app.js") == (STATIC_DIR / "app.js").resolve()
    for bad in ("../api/dashboard.py", "vendor/../../api/dashboard.py", "/etc/passwd", ".git/config"):
        assert _resolve(STATIC_DIR.resolve(), bad) is None, bad


def test_a_changed_file_gets_a_new_etag(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>one</p>")
    app = FastAPI()
    app.include_router(make_dashboard_router(tmp_path))
    client = TestClient(app)
    first = client.get("/").headers["etag"]
    (tmp_path / "index.html").write_text("<p>two</p>")
    r = client.get("/", headers={"If-None-Match": first})
    assert r.status_code == 200 and r.text == "<p>two</p>" and r.headers["etag"] != first


@pytest.mark.parametrize("path", TEXT_ASSETS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_no_asset_loads_anything_from_another_origin(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # A vendored file may name its home page in its licence banner comment; that loads nothing.
    text = re.sub(r"^/\*!.*?\*/", "", text, flags=re.S)
    urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text, flags=re.I)
    assert not urls, f"{path.name} refers to other origins: {urls}; sites are often offline, vendor instead."
    assert "@import" not in text


def test_index_has_no_inline_code_the_csp_would_block() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    for script in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in script, f"inline script {script} is blocked by script-src 'self'"
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers are blocked by the CSP"


def test_every_local_reference_resolves_to_a_file() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert "/static/app.js" in refs and "/static/vendor/uPlot.iife.min.js" in refs
    for js in OWN_JS:
        refs += ["/static/" + m for m in re.findall(r'from "\./([^"]+)"', js.read_text(encoding="utf-8"))]
    missing = [r for r in refs if not (STATIC_DIR / r.removeprefix("/static/")).is_file()]
    assert not missing, f"these files are referenced but missing: {missing}"


def test_vendored_chart_library_is_unmodified_and_carries_its_licence() -> None:
    for name, digest in VENDOR_SHA256.items():
        assert hashlib.sha256((STATIC_DIR / "vendor" / name).read_bytes()).hexdigest() == digest, name
    licence = (STATIC_DIR / "vendor" / "uPlot.LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Leon Sorokin" in licence


def test_both_languages_have_the_same_keys_and_no_empty_labels() -> None:
    tables = strings()
    assert set(tables) == {"en", "zh"}
    only_en = sorted(set(tables["en"]) - set(tables["zh"]))
    only_zh = sorted(set(tables["zh"]) - set(tables["en"]))
    assert not only_en and not only_zh, f"missing in zh: {only_en}; missing in en: {only_zh}"
    empty = [(lang, k) for lang, table in tables.items() for k, v in table.items() if not v.strip()]
    assert not empty
    assert tables["en"]["nav.tickets"] == "Tickets" and tables["zh"]["nav.tickets"] == "工单"


def test_every_key_the_page_uses_exists() -> None:
    keys = set(strings()["en"])
    groups = {k.split(".")[0] for k in keys}
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    for js in OWN_JS:
        if js.name == "i18n.js":
            continue
        source = js.read_text(encoding="utf-8")
        # Keys travel through helpers (card("overview.health"), field(id, "devices.zone", ...)), so take
        # every string literal that looks like a key of a known group, not only direct t("...") calls.
        used |= {k for k in re.findall(r'"([a-z_]+\.[a-z_]+)"', source) if k.split(".")[0] in groups}
        # Keys built from a prefix and a value: t(`tickets.do_${...}`), t(`live.${state}`).
        for prefix in re.findall(r'\bt\(`([a-z_]+\.[a-z_]*)\$\{', source):
            assert any(k.startswith(prefix) for k in keys), f"no key starts with {prefix!r}"
    assert len(used) > 80, "the key scan found too little; has the way labels are named changed?"
    missing = sorted(used - keys)
    assert not missing, f"used by the page but not in i18n.js: {missing}"
    # Every action a ticket's page may offer (gateway/tickets/lifecycle.py ACTIONS) has a button label.
    for action in ("ack", "accept", "arrive", "resolve", "close", "reopen", "cancel", "revisit", "feedback"):
        assert f"tickets.do_{action}" in keys
    for state in ("connecting", "live", "reconnecting", "unavailable"):
        assert f"live.{state}" in keys


@pytest.mark.parametrize("group", sorted(ENUMS))
def test_every_value_the_api_sends_has_words_in_both_languages(group: str) -> None:
    tables = strings()
    for lang, table in tables.items():
        missing = [v for v in ENUMS[group] if f"{group}.{v}" not in table]
        assert not missing, f"{lang} has no label for {group} values {missing}"
