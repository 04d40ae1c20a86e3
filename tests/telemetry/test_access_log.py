"""One access line per request on `gateway.access`, as JSON or as readable text."""

from __future__ import annotations

import io
import logging
import sys

import httpx
import orjson
import pytest

from gateway import logs
from gateway.sim import VendorSpec
from tests.conftest import FleetFactory

MASTER = "mk-access-log-test-master-0123456789"
ADMIN = {"authorization": f"Bearer {MASTER}"}
FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=5)
MSG = [{"role": "user", "content": "hello"}]


async def test_one_json_line_per_request_with_what_the_operator_needs(
    fleet: FleetFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    async with (
        fleet(
            {"bad": FAST.model_copy(update={"error_rate": 1.0}), "good": FAST},
            {"bad": (0.1, 0.1), "good": (1.0, 2.0)},
            policies="routes:\n  chat:\n    targets: [bad/m, good/m]\n    strategy: ordered\n",
            master_key=MASTER,
        ) as fl,
        httpx.AsyncClient(base_url=fl.url) as http,
    ):
        created = await http.post("/admin/keys", json={"team": "blue"}, headers=ADMIN)
        key = created.json()["key"]
        user = {"authorization": f"Bearer {key}"}
        body = {"model": "chat", "messages": MSG, "stream": True}
        r = await http.post("/v1/chat/completions", json=body, headers=user)
        assert r.status_code == 200
        body = {"model": "nope", "messages": MSG}
        assert (await http.post("/v1/chat/completions", json=body, headers=user)).status_code == 404
    formatter = logs.JsonFormatter()
    lines = [orjson.loads(formatter.format(rec)) for rec in caplog.records]
    assert [line["status"] for line in lines] == [200, 404]
    served, missing = lines
    assert served["request_id"] == r.headers["x-request-id"]
    assert served["logger"] == "gateway.access" and served["level"] == "info"
    assert served["team"] == "blue"
    assert served["key_prefix"] == key[:12] and served["key_id"].startswith("key_")
    assert served["route"] == "chat" and served["deployment"] == "good/m"
    assert served["attempts"] == 2  # bad/m failed first
    assert served["stream"] is True
    assert served["prompt_tokens"] > 0 and served["completion_tokens"] == 5
    assert served["cost_usd"] > 0
    assert 0 < served["ttft_ms"] <= served["latency_ms"]
    assert 0 <= served["overhead_ms"] <= served["latency_ms"]
    assert missing["route"] is None and missing["deployment"] is None
    assert missing["error_type"] == "invalid_request_error"
    assert missing["overhead_ms"] is None  # nothing answered
    for line in lines:
        assert key not in orjson.dumps(line).decode()


@pytest.mark.parametrize(
    ("fmt", "tty", "json"),
    [("json", True, True), ("text", False, False), ("auto", True, False), ("auto", False, True)],
)
def test_log_format_follows_the_setting_and_the_terminal(
    monkeypatch: pytest.MonkeyPatch, fmt: str, tty: bool, json: bool
) -> None:
    stream = _Stream(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("info", fmt)
        logs.install(["the-secret-value"])
        logging.getLogger("gateway.test").info("hello %s", "the-secret-value")
    finally:
        root.handlers, root.level = saved
    line = stream.getvalue().strip()
    assert "the-secret-value" not in line and "[redacted]" in line
    if json:
        assert orjson.loads(line)["msg"] == "hello [redacted]"
    else:
        assert line.endswith("INFO gateway.test: hello [redacted]")


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty
