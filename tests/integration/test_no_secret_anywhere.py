"""Secrets hygiene (issue 14): a full run with canary secrets (the master key, an upstream key,
a gw- key) and then every place the run wrote is searched for them: logs at debug level (and as
JSON lines), HTTP answers (admin, errors, models, readiness, /metrics), spend rows, the key
table and the raw database file, the spool. Only a hash and a short prefix of a gw- key may be
stored."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from gateway.logs import JsonFormatter
from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

MASTER = "mk-CANARY-master-4f1c2a9e7b3d5c6f"
UPSTREAM = "sk-ant-CANARY-upstream-9a8b7c6d5e4f3a2b"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MSG = {"model": "claude-x", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


async def test_no_canary_secret_in_anything_a_run_wrote(
    fleet: FleetFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vendor = VendorSpec(
        dialect="anthropic", models=["claude-x"], ttft_ms=1, tokens_per_s=5000, api_key=UPSTREAM
    )
    answers: list[str] = []
    async with (
        fleet({"c": vendor}, {"c": (3.0, 15.0)}, master_key=MASTER) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        created = await http.post("/admin/keys", json={"team": "t", "name": "n"}, headers=ADMIN)
        key = created.json()["key"]
        user = {"authorization": f"Bearer {key}"}
        for path, body, headers in [
            ("/v1/messages", MSG, user),
            ("/v1/messages", {**MSG, "stream": True}, user),
            ("/v1/messages", MSG, {"authorization": f"Bearer {key}x"}),  # wrong key
            ("/v1/messages", MSG, {"authorization": f"Bearer {MASTER}x"}),
            ("/v1/chat/completions", {"model": "claude-x"}, user),  # a 400
            ("/v1/messages", {**MSG, "model": "nope"}, user),  # a 404
        ]:
            answers.append((await http.post(path, json=body, headers=headers)).text)
        paths = ["/admin/keys", "/admin/providers", "/admin/config", "/readyz", "/v1/models"]
        for path in [*paths, "/metrics"]:
            answers.append((await http.get(path, headers=ADMIN)).text)
        answers.append((await http.get("/admin/keys", headers=user)).text)
        vendor_saw = f.vendors["c"].last_request
        assert vendor_saw is not None and vendor_saw.headers["x-api-key"] == UPSTREAM  # it works
        assert f"Bearer {key}" not in str(vendor_saw.headers)  # our clients' keys stay with us
    json_lines = [JsonFormatter().format(r) for r in caplog.records]  # access lines' fields too
    everything = "\n".join([*answers, *json_lines]) + caplog.text
    assert "gateway_requests_total{" in everything and '"key_prefix":"gw-' in everything
    written = await asyncio.to_thread(read_all, tmp_path)
    for secret in (MASTER, UPSTREAM, key):
        assert secret not in everything, secret[:12]
        assert secret.encode() not in written, secret[:12]  # database file, spool, config
    assert key[:12].encode() in written  # the prefix is stored (to find and revoke the key)


def read_all(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
