"""Alembic environment: migrations run on a connection the service hands in.

The service migrates at startup (models/database.py::migrate) inside its own
BEGIN IMMEDIATE transaction, so workers starting together take turns and a failed
upgrade leaves nothing half done. `alembic` on the command line (new revisions,
`alembic upgrade head` by hand) connects to DATABASE_URL through a sync driver.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from config import get_settings
from models.database import to_sync_url  # also registers every table on the metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(to_sync_url(get_settings().database_url))
    with engine.begin() as own:
        _run_on(own)
    engine.dispose()


def _run_on(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
