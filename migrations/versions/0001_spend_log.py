"""spend_log (monthly partitions on Postgres) and the views spend_daily, provider_latency_daily.

Revision ID: 0001
Revises:
Create Date: 2026-11-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from gateway.ledger.partitions import add_months, create_partition_sql, months_ahead

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # Primary and unique keys of a partitioned table must include the partition key.
        ident = [sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False)]
        keys = [sa.PrimaryKeyConstraint("id", "created_at", name="pk_spend_log")]
    else:
        ident = [sa.Column("id", sa.Integer, primary_key=True)]  # the SQLite rowid
        keys = []
    op.create_table(
        "spend_log",
        *ident,
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("team", sa.Text),
        sa.Column("key_id", sa.Text),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("requested_model", sa.Text, nullable=False),
        sa.Column("policy", sa.Text),
        sa.Column("provider", sa.Text),
        sa.Column("deployment", sa.Text),
        sa.Column("upstream_model", sa.Text),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("error_type", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False),
        # Exact decimal on Postgres; text on SQLite, which has no decimal type.
        sa.Column("cost_usd", sa.Numeric(18, 10).with_variant(sa.Text(), "sqlite")),
        sa.Column("ttft_ms", sa.Double),
        sa.Column("latency_ms", sa.Double, nullable=False),
        sa.Column("tags", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        *keys,
        # The idempotency key. It has to include created_at on Postgres (partition key); a replayed
        # row keeps the created_at of its first attempt, so ON CONFLICT still sees the duplicate.
        sa.UniqueConstraint("request_id", "created_at", name="uq_spend_log_request"),
        postgresql_partition_by="RANGE (created_at)",
    )
    # Only what the dashboard queries filter on: time (partition pruning on Postgres), then
    # provider (latency per provider) and team (spend per team).
    op.create_index("ix_spend_log_provider_created_at", "spend_log", ["provider", "created_at"])
    op.create_index("ix_spend_log_team_created_at", "spend_log", ["team", "created_at"])
    if postgres:
        now = datetime.now(UTC)
        for month in [add_months(months_ahead(now)[0], -1), *months_ahead(now)]:
            op.execute(create_partition_sql(month))
        op.execute(PG_SPEND_DAILY)
        op.execute(PG_LATENCY_DAILY)
    else:
        op.execute(SQLITE_SPEND_DAILY)
        op.execute(SQLITE_LATENCY_DAILY)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS provider_latency_daily")
    op.execute("DROP VIEW IF EXISTS spend_daily")
    op.drop_table("spend_log")  # partitions go with it


# model is the public model name the client asked for; provider says where it was served.
PG_SPEND_DAILY = """
CREATE VIEW spend_daily AS
SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
       team, provider, requested_model AS model,
       count(*) AS requests,
       sum(prompt_tokens + completion_tokens) AS tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd
FROM spend_log
GROUP BY 1, 2, 3, 4
"""

SQLITE_SPEND_DAILY = """
CREATE VIEW spend_daily AS
SELECT date(created_at) AS day,
       team, provider, requested_model AS model,
       count(*) AS requests,
       sum(prompt_tokens + completion_tokens) AS tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd
FROM spend_log
GROUP BY 1, 2, 3, 4
"""

# Percentiles are nearest-rank (percentile_disc): a value that was really observed, and the
# same answer on SQLite, where the rank ceil(p * n) is computed with window functions.
PG_LATENCY_DAILY = """
CREATE VIEW provider_latency_daily AS
SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
       provider, deployment,
       count(*) AS requests,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY ttft_ms) AS p50_ttft_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY ttft_ms) AS p95_ttft_ms,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_latency_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms,
       avg(CASE WHEN status_code >= 400 THEN 1.0 ELSE 0.0 END) AS error_rate
FROM spend_log
WHERE provider IS NOT NULL
GROUP BY 1, 2, 3
"""

SQLITE_LATENCY_DAILY = """
CREATE VIEW provider_latency_daily AS
WITH base AS (
    SELECT date(created_at) AS day, provider, deployment, ttft_ms, latency_ms, status_code
    FROM spend_log WHERE provider IS NOT NULL
),
ttft AS (
    SELECT day, provider, deployment,
           min(CASE WHEN rn = (n * 50 + 99) / 100 THEN v END) AS p50,
           min(CASE WHEN rn = (n * 95 + 99) / 100 THEN v END) AS p95
    FROM (SELECT day, provider, deployment, ttft_ms AS v,
                 row_number() OVER w AS rn, count(*) OVER w AS n
          FROM base WHERE ttft_ms IS NOT NULL
          WINDOW w AS (PARTITION BY day, provider, deployment ORDER BY ttft_ms
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
    GROUP BY 1, 2, 3
),
total AS (
    SELECT day, provider, deployment,
           min(CASE WHEN rn = (n * 50 + 99) / 100 THEN v END) AS p50,
           min(CASE WHEN rn = (n * 95 + 99) / 100 THEN v END) AS p95
    FROM (SELECT day, provider, deployment, latency_ms AS v,
                 row_number() OVER w AS rn, count(*) OVER w AS n
          FROM base
          WINDOW w AS (PARTITION BY day, provider, deployment ORDER BY latency_ms
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
    GROUP BY 1, 2, 3
),
agg AS (
    SELECT day, provider, deployment, count(*) AS requests,
           avg(CASE WHEN status_code >= 400 THEN 1.0 ELSE 0.0 END) AS error_rate
    FROM base GROUP BY 1, 2, 3
)
SELECT agg.day, agg.provider, agg.deployment, agg.requests,
       ttft.p50 AS p50_ttft_ms, ttft.p95 AS p95_ttft_ms,
       total.p50 AS p50_latency_ms, total.p95 AS p95_latency_ms,
       agg.error_rate
FROM agg
LEFT JOIN ttft USING (day, provider, deployment)
LEFT JOIN total USING (day, provider, deployment)
"""
