"""teams and api_keys (only a sha256 and a 12-character prefix of each key), tenancy_version.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _limits() -> list[sa.Column[Any]]:
    return [
        # The allow-list of public model names; NULL: every model.
        sa.Column("models", sa.JSON().with_variant(JSONB(), "postgresql")),
        sa.Column("rpm", sa.Integer),
        sa.Column("tpm", sa.Integer),
        # Exact decimal on Postgres; text on SQLite, which has no decimal type (like cost_usd).
        sa.Column("budget_usd_day", sa.Numeric(18, 10).with_variant(sa.Text(), "sqlite")),
        sa.Column("budget_usd_month", sa.Numeric(18, 10).with_variant(sa.Text(), "sqlite")),
    ]


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("name", sa.Text, primary_key=True),
        *_limits(),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False),
        sa.Column("team", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        *_limits(),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.ForeignKeyConstraint(["team"], ["teams.name"], name="fk_api_keys_team"),
    )
    op.create_index("ix_api_keys_team", "api_keys", ["team"])
    # version(): max(updated_at) read from the index on every replica's poll.
    op.create_index("ix_api_keys_updated_at", "api_keys", ["updated_at"])
    version = op.create_table(
        "tenancy_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("tenancy_version")
    op.drop_table("api_keys")
    op.drop_table("teams")
