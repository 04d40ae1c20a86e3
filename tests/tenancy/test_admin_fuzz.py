"""Hypothesis on the admin bodies: any JSON (and any bytes) gets 201/200 or a 400, never a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api import errors
from gateway.api.admin_keys import router
from gateway.settings import Settings
from gateway.tenancy.store import KeyStore

FIELDS = ["team", "name", "models", "rpm", "tpm", "budget_usd_day", "budget_usd_month",
          "expires_in_s", "extra"]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["acme", "5", "1e400", "-0", "NaN", "gw-x", "\x00"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=9),
    st.fixed_dictionaries(
        {"team": st.just("acme")}, optional={f: values for f in FIELDS if f != "team"}
    ),
)


def test_admin_bodies_never_fail_the_gateway(tmp_path: Path) -> None:
    with asyncio.Runner() as run:
        store = run.run(KeyStore.open(f"sqlite:///{tmp_path / 'fuzz.db'}", migrate=True))
        app = FastAPI()
        app.include_router(router)
        errors.install(app)
        app.state.gateway = SimpleNamespace(settings=Settings(master_key="mk"), keys=None)
        app.state.keys = store
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gw",
            headers={"Authorization": "Bearer mk"},
        )
        run.run(client.post("/admin/teams", json={"name": "acme"}))

        @settings(max_examples=300, deadline=None)
        @given(body=bodies, raw=st.binary(max_size=64))
        def check(body: dict[str, Any], raw: bytes) -> None:
            for method, path, expected in [
                ("POST", "/admin/keys", 201),
                ("PATCH", "/admin/teams/acme", 200),
            ]:
                response = run.run(client.request(method, path, json=body))
                assert response.status_code in (expected, 400), response.text
                if response.status_code == 400:
                    assert response.json()["error"]["type"] == "invalid_request_error"
            response = run.run(client.post("/admin/keys", content=raw))
            assert response.status_code in (201, 400), response.text

        try:
            check()
        finally:
            run.run(client.aclose())
            run.run(store.close())
