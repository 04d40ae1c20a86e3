"""Every routed client request produces exactly one spend record with the right figures."""

from __future__ import annotations

from decimal import Decimal

import httpx

from gateway.ledger.record import SpendRecord
from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

SPEC = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=6)
MSG = [{"role": "user", "content": "count my tokens please"}]  # 22 chars -> 6 prompt tokens


class ListLedger:
    def __init__(self) -> None:
        self.records: list[SpendRecord] = []

    def submit(self, record: SpendRecord) -> None:
        self.records.append(record)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_records_for_success_stream_and_failure(fleet: FleetFactory) -> None:
    ledger = ListLedger()
    async with (
        fleet({"a": SPEC}, {"a": (1.0, 2.0)}, ledger=ledger) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        r1 = await http.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        r2 = await http.post(
            "/v1/chat/completions", json={"model": "m", "messages": MSG, "stream": True}
        )
        assert r2.status_code == 200 and r2.text.endswith("data: [DONE]\n\n")
        r3 = await http.post("/v1/chat/completions", json={"model": "nope", "messages": MSG})
        assert r3.status_code == 404
    by_id = {rec.request_id: rec for rec in ledger.records}
    assert len(ledger.records) == 3 == len(by_id)
    plain, streamed, missing = (by_id[r.headers["x-request-id"]] for r in (r1, r2, r3))
    for rec in (plain, streamed):
        assert rec.status_code == 200
        assert rec.deployment == "a/m" and rec.provider == "a"
        assert (rec.prompt_tokens, rec.completion_tokens) == (6, 6)
        assert rec.cost_usd == Decimal("0.000018")  # (6 x 1.0 + 6 x 2.0) / 1e6
        assert rec.error_type is None
    assert streamed.stream and streamed.ttft_ms is not None
    assert (missing.status_code, missing.error_type, missing.cost_usd) == (
        404,
        "invalid_request_error",
        None,
    )
