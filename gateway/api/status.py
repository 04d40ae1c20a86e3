"""The status page: GET /ui (one static HTML file, public: it holds no data) and the JSON it
polls, GET /admin/status (master key, like every /admin route): deployments as the scorer sees
them, the last config reload, today's traffic and spend by team from the ledger."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.admin import providers_view
from gateway.api.auth import require_admin
from gateway.api.state import LedgerReader
from gateway.api.status_view import circuit, health, recent_attempts, shares, team_spend
from gateway.core.estimators import Estimate

if TYPE_CHECKING:
    from gateway.tenancy.store import KeyStore

router = APIRouter(include_in_schema=False)
log = logging.getLogger("gateway.status")
LEDGER_TIMEOUT_S = 2.0  # the page polls every 2 s: a slow database must not pile requests up


@router.get("/ui")
async def ui() -> Response:
    page, policy = _page()
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={
            "content-security-policy": policy,
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        },
    )


@cache
def _page() -> tuple[bytes, str]:
    """The page and a CSP that allows only its own inline script and style (by hash)."""
    page = resources.files("gateway.api").joinpath("status_page.html").read_bytes()
    text = page.decode()

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)
        digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies)
        return " ".join(f"'sha256-{d}'" for d in digests)

    policy = (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return page, policy


@router.get("/admin/status")
async def status(request: Request) -> Response:
    state = require_admin(request.scope)
    now = time.time()
    view = providers_view(state)
    snapshot = state.store.snapshot()
    spend, traffic = await _ledger_today(state.ledger, _key_store(request))
    recent = shares(
        {row["id"]: recent_attempts(snapshot.get(row["id"]), now) for row in view["deployments"]}
    )
    today = shares({row["id"]: traffic.get(row["id"], 0) for row in view["deployments"]})
    for row in view["deployments"]:
        level, word = health(row)
        est = snapshot.get(row["id"]) or Estimate()
        row |= {
            "health": {"level": level, "text": word},
            "circuit": circuit(est.breaker, now),
            "share_recent": recent[row["id"]],
            "requests_today": traffic.get(row["id"], 0) if spend["available"] else None,
            "share_today": today[row["id"]] if spend["available"] else None,
        }
    body = {"now": now, **view, "config": state.reloader.status(), "spend_today": spend}
    return Response(orjson.dumps(body), media_type="application/json")


def _key_store(request: Request) -> KeyStore | None:
    from gateway.tenancy.store import KeyStore  # not at import: see _ledger_today

    store = getattr(request.app.state, "keys", None)
    return store if isinstance(store, KeyStore) else None


async def _ledger_today(
    ledger: LedgerReader | None, keys: KeyStore | None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Today's (UTC) spend by team and requests by deployment; `available: false` with the
    reason when there is no ledger database or it does not answer in time."""
    if ledger is None:
        return {"available": False, "reason": "no ledger database on this gateway"}, {}
    # Here, not at import: SQLAlchemy is not needed to be ready (start-up time).
    from sqlalchemy.exc import DBAPIError

    from gateway.ledger.report import requests_by_deployment, spend_by

    now = datetime.now(UTC)
    try:
        async with asyncio.timeout(LEDGER_TIMEOUT_S):
            engine = ledger.engine
            lines = await spend_by(engine, "team", timedelta(0), now=now)
            traffic = await requests_by_deployment(engine, timedelta(0), now=now)
            teams = await keys.list_teams() if keys is not None else []
    except (DBAPIError, OSError, TimeoutError) as exc:
        log.warning("status page: the ledger database did not answer (%s)", type(exc).__name__)
        return {"available": False, "reason": "the ledger database does not answer"}, {}
    rows = team_spend(lines, {t.name: t.budget_usd_day for t in teams})
    spend = {
        "available": True,
        "day": now.date().isoformat(),
        "total_usd": round(sum(r["cost_usd"] for r in rows), 10),
        "teams": rows,
    }
    return spend, traffic
