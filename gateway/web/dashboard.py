"""The live dashboard: `GET /` and its assets under `/static/`, served from the package (no CDN).

The page is plain files (HTML, JS modules, CSS, the vendored uPlot), so serving them is a small job
done here rather than with a mount: an APIRouter keeps the one `include_router` wiring of the other
features, and lets every answer carry the same Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request
from fastapi.responses import Response

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Only our own origin may supply scripts, styles and connections (the API and its SSE stream);
# `data:` images only for the inline blank favicon. No 'unsafe-inline': the page has no inline code.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

# Explicit types: JS modules are refused by the browser unless served as JavaScript, and the
# platform's mimetypes table varies between distributions.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}

# Our own files change with every upgrade and have no hashed names: revalidate each time (a 304
# is cheap). The vendored library only changes with its version, so a day of caching is safe.
CACHE_REVALIDATE = "no-cache"
CACHE_VENDOR = "public, max-age=86400"


def make_dashboard_router(static_dir: Path | None = None, page: str = "index.html") -> APIRouter:
    """GET / (the page) and GET /static/{path} (its assets); `static_dir` is for tests. `page` is the
    page served at / (head office serves `fleet/index.html`, which shares the site page's helpers)."""
    root = (static_dir or STATIC_DIR).resolve()
    router = APIRouter(include_in_schema=False)

    @router.api_route("/", methods=["GET", "HEAD"])
    def index(request: Request) -> Response:
        return _file_response(request, root / page, CACHE_REVALIDATE)

    @router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
    def static(path: str, request: Request) -> Response:
        target = _resolve(root, path)
        if target is None:
            return _not_found(path)
        cache = CACHE_VENDOR if target.parent.name == "vendor" else CACHE_REVALIDATE
        return _file_response(request, target, cache)

    return router


def _resolve(root: Path, path: str) -> Path | None:
    """The file `path` names inside `root`, or None for anything outside it, hidden, or missing."""
    parts = PurePosixPath(path).parts
    if not parts or any(p in ("..", ".") or p.startswith(".") or "\\" in p for p in parts):
        return None
    target = (root / Path(*parts)).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def _content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix, "application/octet-stream")


def _file_response(request: Request, path: Path, cache: str) -> Response:
    body = path.read_bytes()  # the assets are small (the largest, uPlot, is ~50 KB)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": cache, "ETag": etag, "Content-Security-Policy": CSP,
               "X-Content-Type-Options": "nosniff"}
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    content = b"" if request.method == "HEAD" else body
    response = Response(content, media_type=_content_type(path), headers=headers)
    if request.method == "HEAD":
        response.headers["Content-Length"] = str(len(body))
    return response


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def _not_found(path: str) -> Response:
    return Response(f"There is no dashboard file '{path}'; the page's assets live under /static/.\n",
                    status_code=404, media_type="text/plain; charset=utf-8",
                    headers={"Content-Security-Policy": CSP})
