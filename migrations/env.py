"""Alembic environment: runs on the connection that gateway.ledger.schema hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from gateway.ledger.models import metadata


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `gateway migrate` (it picks the database and driver)")
run(connection)
