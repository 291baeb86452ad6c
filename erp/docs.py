"""The central API's interactive documentation at /docs, served whole from this machine.

FastAPI's own /docs page loads Swagger UI from a CDN, so it is blank where the warehouse has no
internet. This one serves the Swagger UI files that the pinned swagger-ui-bundle-v2 package
installs. ReDoc is left off: no package ships its files, and Swagger UI shows the same document.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"


def add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs, its scripts, styles and icon under /docs/assets. Create the app with
    docs_url=None and redoc_url=None so that FastAPI's CDN pages are not added as well."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title}: documentation",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png")
