"""The central API's schema migrations: a database at an older revision is upgraded in place."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, select

from erp import tables as t
from erp.migrate import _config, current_revision, head_revision, upgrade
from erp.storage import make_engine


def test_an_older_database_is_upgraded_keeping_its_data(database_url):
    engine = make_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0001")
        conn.execute(t.sites.insert().values(site_id="DC1", name="Returns centre"))
    assert current_revision(engine) == "0001"
    assert "bin_counts" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert "bin_counts" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(select(t.sites.c.site_id)).all() == [("DC1",)]
    upgrade(engine)  # a second run is a no-op
    assert current_revision(engine) == head_revision()
    engine.dispose()
