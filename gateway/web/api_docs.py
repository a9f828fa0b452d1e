"""`GET /docs`: the interactive API documentation (Swagger UI) from the package's own files.

FastAPI's default page loads its viewer from a CDN, so on a site without internet it stayed blank.
The viewer is vendored under static/vendor (see its README.txt) and served by the dashboard router;
this page only points at it. ReDoc is turned off rather than vendored too: one viewer is enough.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

DOCS_URL = "/docs"
SWAGGER_JS = "/static/vendor/swagger-ui-bundle.js"
SWAGGER_CSS = "/static/vendor/swagger-ui.css"
# A blank icon: the default one is fetched from FastAPI's web site.
FAVICON = "data:,"


def add_api_docs(app: FastAPI) -> None:
    """Serve /docs for `app`, which must be built with docs_url=None and redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        # validatorUrl None: otherwise Swagger UI asks validator.swagger.io to check the schema.
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} API",
                                   swagger_js_url=SWAGGER_JS, swagger_css_url=SWAGGER_CSS,
                                   swagger_favicon_url=FAVICON, swagger_ui_parameters={"validatorUrl": None})
