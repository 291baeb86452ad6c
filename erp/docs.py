"""The central API's documentation: an OpenAPI document that holds every schema it refers to and
every answer an endpoint gives, and Swagger UI at /docs, served whole from this machine.

FastAPI's own /docs page loads Swagger UI from a CDN, so it is blank where the warehouse has no
internet. This one serves the Swagger UI files that the pinned swagger-ui-bundle-v2 package
installs. ReDoc is left off: no package ships its files, and Swagger UI shows the same document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from swagger_ui_bundle import swagger_ui_path

from sync.protocol import Problem

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


_REFUSED = {
    400: "the body could not be read: not text, or the client went away before it arrived",
    401: "no credentials, wrong ones, a person locked out after wrong PINs, or a revoked device",
    403: "a person whose role may not do this, or a batch naming another device than its credentials",
    404: "no such record, or one of another site than the calling device's",
    409: "the request conflicts with what is stored: the error says what (a gap in device_seq, a record in use)",
    413: "the body is over this endpoint's limit; nothing of it was read",
    422: "a malformed request, or one a rule refuses; the message names the field",
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The 4xx answers of an endpoint, for its `responses`: each a Problem in JSON, also where the
    endpoint's own answer is HTML or CSV."""
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {status: {"description": _REFUSED[status], "content": problem} for status in statuses}


def complete_openapi(app: FastAPI, bodies: Iterable[type[BaseModel]]) -> None:
    """Add to /openapi.json the schemas of `bodies`, which routes read themselves (so that a body is
    refused for its size before it is parsed) and refer to by name in their openapi_extra."""
    generate = app.openapi
    bodies = tuple(bodies)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _, definitions = models_json_schema([(model, "validation") for model in (Problem, *bodies)],
                                                ref_template="#/components/schemas/{model}")
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in definitions.get("$defs", {}).items():
                schemas.setdefault(name, schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
