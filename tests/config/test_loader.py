"""providers.yaml and policies/: valid files load; broken ones name their file:line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.config.policies import Strategy
from gateway.config.yamlsrc import ConfigError

GOOD = """\
providers:
  fast:
    base_url: http://127.0.0.1:9/v1
    api_key_env: FAST_KEY
    models:
      m:
        upstream: vendor/m-instruct
        price: {input_per_mtok: 0.5, output_per_mtok: 1.5}
        capabilities: [tools]
  cheap:
    base_url: http://127.0.0.1:10/v1/
    models:
      m: {}
      other: {price: {input_per_mtok: 0.1, output_per_mtok: 0.1}}
"""


def write(tmp_path: Path, providers: str, **policies: str) -> tuple[Path, Path]:
    p = tmp_path / "providers.yaml"
    p.write_text(providers)
    pol = tmp_path / "policies"
    pol.mkdir(exist_ok=True)
    for name, text in policies.items():
        (pol / f"{name}.yaml").write_text(text)
    return p, pol


def problems(tmp_path: Path, providers: str, **policies: str) -> list[str]:
    p, pol = write(tmp_path, providers, **policies)
    with pytest.raises(ConfigError) as info:
        load_config(p, pol, {"FAST_KEY": "k"})
    return [str(x) for x in info.value.problems]


def test_good_file_builds_routes_and_deployments(tmp_path: Path) -> None:
    p, pol = write(tmp_path, GOOD)
    config = load_config(p, pol, {"FAST_KEY": "secret"})
    assert set(config.deployments) == {"fast/m", "cheap/m", "cheap/other"}
    fast = config.deployments["fast/m"]
    assert fast.upstream_model == "vendor/m-instruct"
    assert fast.capabilities == frozenset({"tools"})
    assert config.deployments["cheap/m"].input_per_mtok is None  # unknown price stays unknown
    assert config.deployments["cheap/m"].base_url == "http://127.0.0.1:10/v1"
    assert {d.id for d in config.routes["m"].targets} == {"fast/m", "cheap/m"}
    assert "secret" not in repr(config)


def test_missing_key_makes_provider_unavailable_not_a_crash(tmp_path: Path) -> None:
    p, pol = write(tmp_path, GOOD)
    config = load_config(p, pol, {})
    assert config.unavailable == {"fast": "environment variable FAST_KEY is not set"}
    assert [d.id for d in config.routes["m"].targets] == ["cheap/m"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("output_per_mtok: 1.5", "output_per_mtok: -1"),
            "providers.yaml:8: providers.fast.models.m.price.output_per_mtok: must be >= 0",
        ),
        (
            ("upstream: vendor/m-instruct", "upstream: vendor/m-instruct\n        colour: red"),
            "providers.yaml:8: providers.fast.models.m.colour: unknown key",
        ),
        (
            ("    api_key_env: FAST_KEY", "    kind: bedrock\n    api_key_env: FAST_KEY"),
            "providers.yaml:2: providers.fast: kind: bedrock needs aws_access_key_id_env, "
            "aws_secret_access_key_env, aws_region",
        ),
        (
            (
                "upstream: vendor/m-instruct",
                "upstream: vendor/m-instruct\n        operations: [messages]",
            ),
            "providers.yaml:2: providers.fast: models.m.operations: kind openai cannot serve "
            "messages",
        ),
        (
            ("api_key_env: FAST_KEY", "api_key_env: sk-live-123"),
            "providers.yaml:4: providers.fast.api_key_env: must name an environment variable",
        ),
        (
            ("base_url: http://127.0.0.1:9/v1", "base_url: 127.0.0.1:9"),
            "providers.yaml:3: providers.fast.base_url: must be an http:// or https:// URL",
        ),
        (("  cheap:", "  fast:"), "providers.yaml:10: providers.fast: duplicate key"),
        (("      m: {}", "      m: {price: [}"), "providers.yaml:13: invalid YAML"),
    ],
)
def test_broken_providers_name_file_line_and_field(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    found = problems(tmp_path, GOOD.replace(*edit))
    assert any(expected in p for p in found), found
    assert all("Traceback" not in p for p in found)


def test_policy_routes_and_their_errors(tmp_path: Path) -> None:
    policy = """\
routes:
  smart:
    targets: [cheap/m, fast/m]
    strategy: cheapest
    failover: {max_attempts: 2}
"""
    p, pol = write(tmp_path, GOOD, main=policy)
    route = load_config(p, pol, {"FAST_KEY": "k"}).routes["smart"]
    assert [d.id for d in route.targets] == ["cheap/m", "fast/m"]
    assert route.strategy is Strategy.CHEAPEST
    assert route.max_attempts == 2

    broken = policy.replace("cheap/m, fast/m", "cheap/m, nowhere/m").replace("cheapest", "smartest")
    found = problems(tmp_path, GOOD, main=broken)
    assert any(
        p.endswith(
            "main.yaml:4: routes.smart.strategy: must be 'balanced', 'cheapest', "
            "'fastest', 'ordered' or 'weighted'"
        )
        for p in found
    ), found


def test_unknown_policy_target_names_its_line(tmp_path: Path) -> None:
    policy = "routes:\n  smart:\n    targets:\n      - cheap/m\n      - nowhere/m\n"
    found = problems(tmp_path, GOOD, main=policy)
    assert any(
        "main.yaml:5: routes.smart.targets.1: unknown target 'nowhere/m'" in p for p in found
    )


def test_missing_providers_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml", tmp_path, {})


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://user:pass@vendor.test/v1", "credentials"),
        ("http://vendor.test/v1?key=abc", "query"),
        ("http://vendor.test:99999/v1", "port"),
        ("https:///v1", "host"),
        ("http://vendor.test/v 1", "spaces"),
        ("httpx://vendor.test/v1", "http:// or https://"),
    ],
)
def test_a_base_url_is_checked_whole_not_by_its_prefix(url: str, why: str) -> None:
    from gateway.config.providers import http_base_url

    with pytest.raises(ValueError, match=why):
        http_base_url(url)
    assert http_base_url("https://api.vendor.test:8443/v1/") == "https://api.vendor.test:8443/v1"
