"""Alembic environment: migrations run on the connection the API hands over (SQLite or PostgreSQL)."""

from alembic import context

from erp.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
