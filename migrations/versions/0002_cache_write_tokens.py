"""spend_log.cache_write_tokens: the prompt tokens written to the vendor's cache (priced apart).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: Postgres adds it without rewriting the table (and its partitions).
    op.add_column(
        "spend_log",
        sa.Column("cache_write_tokens", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("spend_log", "cache_write_tokens")
