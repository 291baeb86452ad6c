"""/docs works with no internet: the page names only this server's URLs, and each of them answers."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from erp.api import create_app
from erp.storage import open_database


def test_docs_load_everything_from_the_api_itself(tmp_path: Path):
    engine = open_database(f"sqlite:///{tmp_path / 'erp.db'}")
    try:
        with TestClient(create_app(engine)) as client:
            page = client.get("/docs")
            assert page.status_code == 200 and "swagger-ui" in page.text
            urls = set(re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text))
            assert {"/openapi.json", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= urls
            assert not re.search(r"https?://|['\"]//", page.text), "the docs page refers to another host"
            for url in urls:
                answer = client.get(url)
                assert answer.status_code == 200 and answer.content, url
            assert client.get("/redoc").status_code == 404  # off: it would load ReDoc from a CDN
    finally:
        engine.dispose()
