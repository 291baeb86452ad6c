"""Process entry points for `returnflow erp serve`: the parent migrates once, workers only connect."""

from __future__ import annotations

import gc
import os

from fastapi import FastAPI

from .api import create_app
from .storage import make_engine

DB_URL_ENV = "RETURNFLOW_ERP_DB"


def app_from_env() -> FastAPI:
    """The app factory each uvicorn worker calls; the database URL comes from the environment."""
    app = create_app(make_engine(os.environ[DB_URL_ENV]))
    # Everything loaded so far lives as long as the process: keep the collector from rescanning it,
    # and let it run less often, since a push allocates many short-lived objects per event.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    return app
