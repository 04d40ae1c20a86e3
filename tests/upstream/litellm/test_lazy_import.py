"""litellm is imported only when a provider served through it is configured: a fresh interpreter
imports the gateway, starts it with openai, anthropic and pool providers and serves a request
without ever importing litellm; with a kind: litellm provider it does (so the check can fail)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path

    import httpx, respx

    from gateway.app import create_app
    from gateway.settings import Settings

    WORK = Path(sys.argv[1])

    async def main() -> None:
        settings = Settings(
            providers=WORK / "providers.yaml",
            policies=WORK / "policies",
            database_url=f"sqlite:///{WORK / 'ledger.db'}",
            ledger_spool_dir=WORK / "spool",
            watch_config=False,
            auth=False,
            http_transport="httpx",
        )
        app = create_app(settings, env={"OPENAI_KEY": "sk-test", "ANTHROPIC_KEY": "sk-ant-x"})
        reply = {
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
        with respx.mock(assert_all_called=False, assert_all_mocked=False) as mock:
            mock.post("http://openai.test/v1/chat/completions").respond(200, json=reply)
            mock.post("http://llm.test/v1/chat/completions").respond(200, json=reply)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as gw:
                    body = {"model": sys.argv[2], "messages": [{"role": "user", "content": "x"}]}
                    answer = await gw.post("/v1/chat/completions", json=body)
                    assert answer.status_code == 200, answer.text
        print("litellm" in sys.modules)

    asyncio.run(main())
    """
)
PROVIDERS = """
providers:
  oai:
    base_url: http://openai.test/v1
    api_key_env: OPENAI_KEY
    models:
      gpt: {upstream: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 1}}
  claude:
    kind: anthropic
    api_key_env: ANTHROPIC_KEY
    models:
      sonnet: {price: {input_per_mtok: 3, output_per_mtok: 15}}
  gpus:
    kind: pool
    replicas: [http://10.9.9.9:8000/v1]
    cost: {gpu_hour_usd: 2, gpus: 1}
    models:
      llama: {}
"""
LITELLM = """
  tail:
    kind: litellm
    base_url: http://llm.test/v1
    api_key_env: OPENAI_KEY
    models:
      tail: {upstream: openai/gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 1}}
"""


@pytest.mark.parametrize(
    ("providers", "model", "imported"),
    [(PROVIDERS, "gpt", "False"), (PROVIDERS + LITELLM, "tail", "True")],
)
def test_litellm_is_imported_only_for_a_provider_served_through_it(
    tmp_path: Path, providers: str, model: str, imported: str
) -> None:
    (tmp_path / "providers.yaml").write_text(providers)
    (tmp_path / "policies").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), model],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == imported


OFFLINE = textwrap.dedent(
    """
    import socket, sys

    tried = []
    real_connect = socket.socket.connect

    def connect(self, address):
        tried.append(address)
        raise OSError("no network in this test")

    socket.socket.connect = connect
    socket.create_connection = lambda address, *a, **k: connect(None, address)

    from gateway.upstream import litellm_loader

    module = litellm_loader.start().result(timeout=240)
    assert module.model_cost, "the bundled cost map is loaded"
    print(tried)
    """
)


def test_importing_litellm_makes_no_network_call() -> None:
    """Its cost map, beta-header lists and telemetry stay local: no socket is even tried."""
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
