"""The whole gateway in-process in front of respx-mocked vendors, and the spend rows it wrote:
for the vendor-kind tests (each vendor's real wire format, asserted on both sides)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from gateway.app import create_app
from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.models import spend_log
from tests.conftest import postgres_schema
from tests.factories import gateway_settings


@asynccontextmanager
async def gateway_client(
    workdir: Path,
    providers: str,
    env: Mapping[str, str],
    policies: str | None = None,
    **settings: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the whole gateway (ASGI: respx mocks only the vendors' HTTP) over this
    providers.yaml and policy, its files in workdir; its lifespan ends with the block."""
    (workdir / "providers.yaml").write_text(providers)
    (workdir / "policies").mkdir(exist_ok=True)
    if policies:
        (workdir / "policies" / "test.yaml").write_text(policies)
    app = create_app(gateway_settings(workdir, http_transport="httpx", **settings), env=dict(env))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=30
        ) as client,
    ):
        yield client


@asynccontextmanager
async def vendor_gateway(
    workdir: Path, providers: str, env: Mapping[str, str], policies: str | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, list[Any]]]:
    """(a client of the gateway, the spend rows): the rows are filled in once the block ends
    and the gateway has flushed its ledger (into a Postgres schema of its own)."""
    rows: list[Any] = []
    async with postgres_schema() as url:
        async with gateway_client(
            workdir, providers, env, policies, database_url=url, ledger_migrate=True
        ) as client:
            yield client, rows
        engine = create_engine(parse_database_url(url))
        try:
            async with engine.connect() as conn:
                query = select(spend_log).order_by(spend_log.c.created_at)
                rows.extend(await conn.execute(query))
        finally:
            await engine.dispose()
