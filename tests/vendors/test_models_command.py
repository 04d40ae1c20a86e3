"""`gateway models`: every public model, its candidates, their operations and effective prices,
and where each price came from (providers.yaml, litellm's map under which name, a pool, none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from gateway.cli import app

PROVIDERS = """
providers:
  azure:
    kind: azure
    base_url: https://contoso.openai.azure.com
    api_key_env: AZ_KEY_FOR_MODELS_TEST
    models:
      gpt-4o: {upstream: prod-4o}
  gemini:
    kind: gemini
    api_key_env: GEMINI_KEY_FOR_MODELS_TEST
    models:
      flash:
        upstream: gemini-2.5-flash
        price: {input_per_mtok: 0.30, output_per_mtok: 2.50, cache_write_per_mtok: 1.0}
  local:
    kind: openai
    base_url: http://127.0.0.1:9/v1
    models:
      mystery-x: {}
  claude:
    kind: anthropic
    api_key_env: UNSET_KEY_FOR_MODELS_TEST
    models:
      claude-sonnet-4-5: {}
  gpus:
    kind: pool
    replicas: [http://10.0.0.1:8000/v1]
    cost: {gpu_hour_usd: 3.6, gpus: 1, billing: elastic, goodput_tokens_per_s: 1000}
    models:
      llama: {}
"""


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    (tmp_path / "providers.yaml").write_text(PROVIDERS)
    (tmp_path / "policies").mkdir()
    monkeypatch.setenv("AZ_KEY_FOR_MODELS_TEST", "k")
    monkeypatch.setenv("GEMINI_KEY_FOR_MODELS_TEST", "k")
    monkeypatch.delenv("UNSET_KEY_FOR_MODELS_TEST", raising=False)
    paths = [
        "--providers",
        str(tmp_path / "providers.yaml"),
        "--policies",
        str(tmp_path / "policies"),
    ]
    result = CliRunner().invoke(app, ["models", *paths, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_json_names_each_price_and_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = {
        r["deployment"]: r
        for r in orjson.loads(run(tmp_path, monkeypatch, "--format", "json"))["models"]
    }
    az = rows["azure/gpt-4o"]
    assert az["price_source"] == "litellm map: azure/gpt-4o"  # the deployment name is not known
    assert az["prices_per_mtok"] == {
        "input": "2.5000000", "cache_read": "1.25000000", "cache_write": "2.5000000",
        "output": "10.00000", "reasoning": "10.00000",
    }  # fmt: skip
    assert az["operations"] == [
        "chat",
        "messages (via chat)",
        "responses (via chat)",
        "completions",
    ]
    gem = rows["gemini/flash"]
    assert gem["price_source"] == "providers.yaml"
    assert gem["prices_per_mtok"] == {
        "input": "0.3", "cache_read": "0.3", "cache_write": "1.0",
        "output": "2.5", "reasoning": "2.5",
    }  # fmt: skip
    assert rows["local/mystery-x"]["price_source"] is None
    assert rows["local/mystery-x"]["prices_per_mtok"] is None
    claude = rows["claude/claude-sonnet-4-5"]
    assert claude["unavailable"] == "environment variable UNSET_KEY_FOR_MODELS_TEST is not set"
    assert claude["price_source"] == "litellm map: claude-sonnet-4-5"
    assert claude["prices_per_mtok"]["cache_write"] == "3.75000000"
    assert claude["operations"] == ["messages"]
    pool = rows["gpus/llama"]
    assert pool["price_source"] == "pool GPU-hour"
    assert pool["prices_per_mtok"]["input"] == "1.0"  # 3.6 $/h over 3.6 M tokens/h


def test_table_lists_models_and_unavailable_providers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run(tmp_path, monkeypatch)
    assert "azure/gpt-4o" in out and "litellm map: azure/gpt-4o" in out
    assert "unpriced" in out
    assert "unavailable here: claude: environment variable UNSET_KEY_FOR_MODELS_TEST" in out
