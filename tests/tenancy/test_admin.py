"""/admin/keys and /admin/teams over ASGI: the master key, the key answered once, OpenAI errors."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, text

from gateway.api import errors
from gateway.api.admin_keys import router
from gateway.ledger.codec import to_row
from gateway.ledger.models import spend_log
from gateway.settings import Settings
from gateway.tenancy.store import KeyStore
from tests.ledger.factories import record

MASTER = "sk-master-canary-123"


@pytest.fixture
async def admin(store: KeyStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    errors.install(app)
    settings = Settings(master_key=MASTER)
    app.state.gateway = SimpleNamespace(settings=settings, keys=None)
    app.state.keys = store
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {MASTER}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gw", headers=headers
    ) as client:
        yield client


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"} and body["code"] == code
    return body


async def test_only_the_master_key(admin: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/admin/keys"), ("POST", "/admin/keys"),
                         ("DELETE", "/admin/keys/x"), ("GET", "/admin/teams"),
                         ("PATCH", "/admin/teams/acme")]:  # fmt: skip
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer gw-wrong"}):
            response = await admin.request(method, path, headers=headers, content=b"{")
            error(response, 401, "invalid_api_key")


async def test_key_lifecycle(admin: httpx.AsyncClient, store: KeyStore) -> None:
    made = await admin.post(
        "/admin/keys",
        json={
            "team": "acme", "name": "ci", "models": ["b", "a"], "rpm": 60, "tpm": 1000,
            "budget_usd_day": 2.5, "budget_usd_month": "40", "expires_in_s": 3600,
        },
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    key = body["key"]
    assert key.startswith("gw-") and body["prefix"] == key[:12] and body["id"].startswith("key_")
    assert body["team"] == "acme" and body["models"] == ["a", "b"] and body["rpm"] == 60
    assert body["budget_usd_day"] == 2.5 and body["budget_usd_month"] == 40
    assert body["expires_at"] is not None and body["revoked_at"] is None
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert digest in await store.active_keys()

    listed = await admin.get("/admin/keys")
    assert listed.status_code == 200 and [k["id"] for k in listed.json()["data"]] == [body["id"]]
    for other in ("other", "a\x00b", "x" * 5000):
        assert (await admin.get("/admin/keys", params={"team": other})).json()["data"] == []
    error(await admin.get("/admin/teams/a%00b"), 404, "not_found")
    error(await admin.delete("/admin/keys/" + "k" * 5000), 404, "not_found")
    shown = await admin.get(f"/admin/keys/{body['prefix']}")
    assert shown.json()["spend_usd"] == {"day": 0.0, "month": 0.0}
    assert shown.json()["headroom_usd"] == {"day": 2.5, "month": 40.0}
    for answer in (listed.text, shown.text):
        assert key not in answer and key[12:] not in answer and digest not in answer
        assert "key_hash" not in answer

    patched = await admin.patch(f"/admin/keys/{body['id']}", json={"rpm": None, "tpm": 5})
    assert patched.status_code == 200 and (patched.json()["rpm"], patched.json()["tpm"]) == (
        None, 5,
    )  # fmt: skip
    assert patched.json()["models"] == ["a", "b"]  # untouched
    never = await admin.patch(f"/admin/keys/{body['id']}", json={"expires_in_s": None})
    assert never.json()["expires_at"] is None

    revoked = await admin.delete(f"/admin/keys/{body['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert await store.active_keys() == {}
    for method in ("GET", "DELETE", "PATCH"):
        missing = await admin.request(method, "/admin/keys/key_000000000000", json={})
        assert error(missing, 404, "not_found")["param"] == "id"


async def test_spend_and_headroom(admin: httpx.AsyncClient, store: KeyStore) -> None:
    made = (await admin.post("/admin/keys", json={"team": "acme", "budget_usd_day": 1})).json()
    async with store.engine.begin() as conn:
        at = datetime.fromisoformat(made["created_at"])  # this UTC day, whenever the test runs
        await conn.execute(
            insert(spend_log), [to_row(record(1, key_id=made["id"], created_at=at, team="acme"))]
        )
    shown = (await admin.get(f"/admin/keys/{made['id']}")).json()
    assert shown["spend_usd"]["day"] == pytest.approx(0.0000123456)
    assert shown["headroom_usd"]["day"] == pytest.approx(1 - 0.0000123456)
    team = (await admin.get("/admin/teams/acme")).json()
    assert team["spend_usd"]["month"] == pytest.approx(0.0000123456)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"", None),
        (b"not json", None),
        (b"[1]", None),
        (b"{}", "team"),
        (b'{"team": "acme", "rpm": 0}', None),
        (b'{"team": "acme", "rpm": "5"}', "rpm"),
        (b'{"team": "acme", "rpm": true}', "rpm"),
        (b'{"team": "acme", "budget_usd_day": -1}', None),
        (b'{"team": "acme", "budget_usd_day": 1e300}', None),
        (b'{"team": "acme", "expires_in_s": 0}', "expires_in_s"),
        (b'{"team": "acme", "expires_in_s": 99999999999999999999}', "expires_in_s"),
        (b'{"team": "acme", "models": []}', None),
        (b'{"team": "acme", "models": "a"}', "models"),
        (b'{"team": "", "rpm": 1}', None),
        (b'{"team": "a\\u0000b"}', None),
        (b'{"team": "acme", "key_hash": "x"}', "key_hash"),
    ],
)
async def test_bad_bodies_are_400(admin: httpx.AsyncClient, body: bytes, param: str | None) -> None:
    response = await admin.post("/admin/keys", content=body)
    got = error(response, 400, "invalid_request")
    assert got["type"] == "invalid_request_error"
    if param is not None:
        assert got["param"] == param


async def test_teams(admin: httpx.AsyncClient) -> None:
    made = await admin.post("/admin/teams", json={"name": "acme", "rpm": 10, "models": ["m"]})
    assert made.status_code == 201 and made.json()["rpm"] == 10
    error(await admin.post("/admin/teams", json={"name": "acme"}), 409, "conflict")
    error(await admin.post("/admin/teams", json={"name": "b", "tpm": -3}), 400, "invalid_request")
    patched = await admin.patch("/admin/teams/acme", json={"rpm": None, "budget_usd_month": 9})
    assert patched.status_code == 200
    assert (patched.json()["rpm"], patched.json()["budget_usd_month"]) == (None, 9)
    assert patched.json()["models"] == ["m"]
    listed = (await admin.get("/admin/teams")).json()
    assert [t["name"] for t in listed["data"]] == ["acme"]
    assert (await admin.get("/admin/teams/acme")).json()["headroom_usd"]["month"] == 9
    error(await admin.get("/admin/teams/nobody"), 404, "not_found")
    error(await admin.patch("/admin/teams/nobody", json={"rpm": 1}), 404, "not_found")
    error(await admin.patch("/admin/teams/acme", json={"name": "x"}), 400, "invalid_request")


async def test_no_store_is_503(store: KeyStore) -> None:
    app = FastAPI()
    app.include_router(router)
    errors.install(app)
    app.state.gateway = SimpleNamespace(settings=Settings(master_key=MASTER), keys=None)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {MASTER}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gw", headers=headers
    ) as client:
        error(await client.get("/admin/keys"), 503, "keys_unavailable")
    async with store.engine.connect() as conn:  # the fixture's database is untouched
        assert (await conn.execute(text("SELECT count(*) FROM api_keys"))).scalar() == 0
