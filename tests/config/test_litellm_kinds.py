"""kind: bedrock | vertex | cohere | litellm in providers.yaml: litellm model strings, the
credential fields each kind needs (by reference only), and providers whose secrets are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.litellm_kinds import litellm_model
from gateway.config.loader import load_config
from gateway.config.yamlsrc import ConfigError
from gateway.ledger.pricing import prices_for

PROVIDERS = """\
providers:
  aws:
    kind: bedrock
    aws_access_key_id_env: AWS_KEY_ID
    aws_secret_access_key_env: AWS_SECRET
    aws_session_token_env: AWS_TOKEN
    aws_region: us-east-1
    models:
      haiku: {upstream: "anthropic.claude-3-5-haiku-20241022-v1:0"}
  gcp:
    kind: vertex
    credentials_file: CREDENTIALS
    vertex_project: my-project
    vertex_location: europe-west4
    models:
      flash: {upstream: gemini-2.5-flash, operations: [chat, embeddings]}
  co:
    kind: cohere
    api_key_env: COHERE_KEY
    models:
      command: {upstream: command-r-plus-08-2024}
  any:
    kind: litellm
    base_url: http://127.0.0.1:11434
    models:
      llama: {upstream: ollama_chat/llama3.1}
"""
ENV = {"AWS_KEY_ID": "AKIA", "AWS_SECRET": "s3cret", "AWS_TOKEN": "t0ken", "COHERE_KEY": "co"}


@pytest.mark.parametrize(
    ("kind", "upstream", "expected"),
    [
        ("bedrock", "anthropic.claude-v2:1", "bedrock/anthropic.claude-v2:1"),
        ("bedrock", "bedrock/converse/meta.llama3-70b", "bedrock/converse/meta.llama3-70b"),
        ("vertex", "gemini-2.5-flash", "vertex_ai/gemini-2.5-flash"),
        ("vertex", "vertex_ai/gemini-2.5-pro", "vertex_ai/gemini-2.5-pro"),
        ("cohere", "command-r-plus", "cohere/command-r-plus"),
        ("litellm", "mistral/mistral-large-latest", "mistral/mistral-large-latest"),
        ("litellm", "gpt-4o", "gpt-4o"),  # exactly what was written: litellm's own default
    ],
)  # fmt: skip
def test_the_litellm_provider_prefix_is_added_when_left_out(
    kind: str, upstream: str, expected: str
) -> None:
    assert litellm_model(kind, upstream) == expected


def load(tmp_path: Path, text: str, env: dict[str, str]) -> object:
    creds = tmp_path / "sa.json"
    creds.write_text("{}")
    (tmp_path / "providers.yaml").write_text(text.replace("CREDENTIALS", str(creds)))
    return load_config(tmp_path / "providers.yaml", tmp_path / "policies", env)


def test_each_kind_loads_with_its_credentials_by_reference(tmp_path: Path) -> None:
    config = load(tmp_path, PROVIDERS, ENV)
    deps = config.deployments  # type: ignore[attr-defined]
    aws = deps["aws/haiku"]
    # As the vendor knows it (what the ledger shows, the cost map's key); the adapter adds
    # litellm's prefix per call.
    assert aws.upstream_model == "anthropic.claude-3-5-haiku-20241022-v1:0"
    assert aws.operations == frozenset({"chat"})
    assert aws.litellm.aws_region == "us-east-1"
    assert aws.secret_envs == ("AWS_KEY_ID", "AWS_SECRET", "AWS_TOKEN")
    flash = deps["gcp/flash"]
    assert flash.upstream_model == "gemini-2.5-flash"
    assert flash.operations == frozenset({"chat", "embeddings"})
    assert (flash.litellm.vertex_project, flash.litellm.vertex_location) == (
        "my-project",
        "europe-west4",
    )
    assert deps["co/command"].upstream_model == "command-r-plus-08-2024"
    assert deps["co/command"].secret_envs == ("COHERE_KEY",)
    assert deps["any/llama"].upstream_model == "ollama_chat/llama3.1"
    assert deps["any/llama"].base_url == "http://127.0.0.1:11434"
    assert "s3cret" not in repr(config)


def test_a_model_without_a_price_is_priced_from_litellm_map(tmp_path: Path) -> None:
    config = load(tmp_path, PROVIDERS, ENV)
    for dep in config.deployments.values():  # type: ignore[attr-defined]
        if dep.id != "any/llama":  # (a local model: no price anywhere)
            assert prices_for(dep) is not None, dep.id


@pytest.mark.parametrize(
    ("missing", "why"),
    [
        ("AWS_SECRET", "environment variable AWS_SECRET is not set"),
        ("AWS_TOKEN", "environment variable AWS_TOKEN is not set"),
        ("COHERE_KEY", "environment variable COHERE_KEY is not set"),
    ],
)
def test_a_provider_whose_secret_is_not_set_is_skipped(
    tmp_path: Path, missing: str, why: str
) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    config = load(tmp_path, PROVIDERS, env)
    assert why in config.unavailable.values()  # type: ignore[attr-defined]
    assert len(config.unavailable) == 1  # type: ignore[attr-defined]


def test_an_unreadable_service_account_file_skips_the_provider(tmp_path: Path) -> None:
    text = PROVIDERS.replace("credentials_file: CREDENTIALS", "credentials_file: /nonexistent/sa")
    (tmp_path / "providers.yaml").write_text(text)
    config = load_config(tmp_path / "providers.yaml", tmp_path / "policies", ENV)
    assert config.unavailable == {"gcp": "credentials_file /nonexistent/sa is not readable"}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("    aws_region: us-east-1\n", ""), "providers.aws: kind: bedrock needs aws_region"),
        (("    vertex_location: europe-west4\n", ""), "kind: vertex needs vertex_location"),
        (("    api_key_env: COHERE_KEY\n", ""), "kind: cohere needs api_key_env"),
        (
            ("    aws_secret_access_key_env: AWS_SECRET", "    aws_secret_access_key_env: wJal/rX"),
            "providers.aws.aws_secret_access_key_env: must name an environment variable",
        ),
        (
            ("kind: cohere", "kind: openai\n    base_url: http://x/v1\n    aws_region: us-east-1"),
            "providers.co: aws_region: only for kind bedrock, vertex, cohere, litellm",
        ),
        (
            ("operations: [chat, embeddings]", "operations: [messages]"),
            "kind vertex cannot serve messages",
        ),
    ],
)  # fmt: skip
def test_wrong_credential_fields_are_refused_with_file_and_line(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, PROVIDERS.replace(*edit), ENV)
    found = [str(p) for p in info.value.problems]
    assert any(expected in p and "providers.yaml:" in p for p in found), found
