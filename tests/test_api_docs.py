"""/docs works on a site without internet: the page names only this gateway's own files, they are
served, and headless Chromium with no name resolution renders the operations list."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway
from gateway.web.app import create_app
from gateway.web.dashboard import STATIC_DIR
from tests.support.browser import NO_NETWORK, available, chromium
from tests.support.http_thread import ServerThread

# Byte for byte as `npm pack swagger-ui-dist@5.35.0` ships them (static/vendor/README.txt).
VENDOR_SHA256 = {
    "swagger-ui-bundle.js": "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
    "swagger-ui.css": "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """A gateway on the bundled defaults, no broker (an app's lifespan runs once: one per test)."""
    gw = Gateway(load_site(None, Overrides(data=str(tmp_path / "data"))), connect_mqtt=False)
    return create_app(gw)


def page_urls(html: str) -> list[str]:
    """What the page loads: src= and href= attributes, and the schema's `url: '...'`."""
    return [a or b for a, b in re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""", html)]


def test_docs_page_names_only_local_files_and_they_are_served(app: FastAPI) -> None:
    with TestClient(app) as client:
        r = client.get("/docs")
        assert r.status_code == 200
        urls = page_urls(r.text)
        assert "/static/vendor/swagger-ui-bundle.js" in urls and "/static/vendor/swagger-ui.css" in urls
        assert not re.search(r"https?://", r.text), "the docs page names another origin"
        for url in urls:
            if url.startswith("/"):
                assert client.get(url).status_code == 200, url
        assert client.get("/openapi.json").status_code == 200
        assert "cdn" not in r.headers["content-security-policy"]
        assert client.get("/redoc").status_code == 404  # turned off rather than loaded from a CDN


def test_vendored_viewer_is_unmodified_and_carries_its_licence() -> None:
    vendor = STATIC_DIR / "vendor"
    for name, digest in VENDOR_SHA256.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (vendor / "swagger-ui.LICENSE").read_text(encoding="utf-8")
    assert "SmartBear" in (vendor / "swagger-ui.NOTICE.txt").read_text(encoding="utf-8")


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    with ServerThread(app) as server:
        yield server.url


@pytest.mark.skipif(available() is not None, reason=str(available()))
def test_docs_render_in_a_browser_with_no_network(served: str, tmp_path: Path) -> None:
    operations = sum(len(methods) for path, methods in httpx.get(f"{served}/openapi.json").json()["paths"].items())
    with chromium(tmp_path / "shots", flags=NO_NETWORK) as browser:
        browser.open(f"{served}/docs")
        browser.wait_for(lambda: len(browser.find_all(".opblock")) == operations,
                         f"{operations} operations listed", timeout=20)
        assert "/api/health" in browser.text(".swagger-ui")
        loaded = browser.js("return performance.getEntriesByType('resource').map(e => e.name);")
        assert loaded and all(str(u).startswith(served) for u in loaded), loaded
        errors = [e for e in browser.console() if e.get("level") == "SEVERE"]
        assert not errors, errors
