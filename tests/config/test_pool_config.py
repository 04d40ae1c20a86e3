"""kind: pool in providers.yaml: replicas, engine, cost, capacity; errors name file:line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.config.policies import Slo, Strategy
from gateway.config.yamlsrc import ConfigError
from gateway.core.estimators import Stats
from gateway.core.usage import Usage
from gateway.ledger.pricing import cost_usd
from gateway.routing.scoring import Demand, Draws, rank

POOL = """\
providers:
  h100-east:
    kind: pool
    engine: vllm
    replicas:
      - http://10.0.0.11:8000/v1
      - {url: http://10.0.0.12:8000/v1, metrics_url: http://10.0.0.12:9090/metrics}
    cost: {gpu_hour_usd: 2.5, gpus: 8, billing: BILLING, goodput_tokens_per_s: 10000}
    capacity: {max_batch: 64, max_queue: 4}
    models:
      llama-3.3-70b: {upstream: meta-llama/Llama-3.3-70B-Instruct}
  vendor:
    base_url: http://127.0.0.1:9/v1
    models:
      llama-3.3-70b: {price: {input_per_mtok: 0.6, output_per_mtok: 0.6}}
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    return load_config(path, tmp_path / "policies", {})


def test_pool_deployment_has_its_replicas_and_prices(tmp_path: Path) -> None:
    config = load(tmp_path, POOL.replace("BILLING", "reserved"))
    dep = config.deployments["h100-east/llama-3.3-70b"]
    assert dep.kind == "pool" and dep.pool is not None
    assert [(r.url, r.metrics_url) for r in dep.pool.replicas] == [
        ("http://10.0.0.11:8000/v1", "http://10.0.0.11:8000/metrics"),
        ("http://10.0.0.12:8000/v1", "http://10.0.0.12:9090/metrics"),
    ]
    assert (dep.pool.max_batch, dep.pool.max_queue, dep.pool.usd_per_hour) == (64, 4, 20.0)
    assert (dep.input_per_mtok, dep.output_per_mtok) == (0.0, 0.0)  # reserved: ~free to score
    # The ledger still charges the amortised GPU-hour: $20/h over 36M tokens/h.
    cost = cost_usd(dep, Usage(prompt_tokens=900_000, completion_tokens=100_000))
    assert cost is not None and abs(cost - Decimal(20) / 36) < Decimal("1e-9")
    elastic = load(tmp_path, POOL.replace("BILLING", "elastic"))
    price = elastic.deployments["h100-east/llama-3.3-70b"].input_per_mtok
    assert price == pytest.approx(20 / 36)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("    engine: vllm\n", "    engine: trt\n"), "providers.yaml:4: providers.h100-east"),
        (
            (", goodput_tokens_per_s: 10000", ""),
            "an elastic pool needs cost.goodput_tokens_per_s",
        ),
        (("      - http://10.0.0.11:8000/v1\n", "      - 10.0.0.11:8000\n"), "providers.yaml:6"),
        (("    base_url: http://127.0.0.1:9/v1\n", "    base_url: http://127.0.0.1:9/v1\n"
          "    engine: vllm\n"), "engine, replicas and cost are for kind: pool only"),
    ],
)  # fmt: skip
def test_bad_pool_config_names_file_line(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    text = POOL.replace("BILLING", "elastic").replace(*edit)
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert expected in str(err.value), str(err.value)


def test_prefer_owned_capacity_puts_the_pool_first_only_while_it_meets_the_slo(
    tmp_path: Path,
) -> None:
    config = load(tmp_path, POOL.replace("BILLING", "elastic"))  # dear: $0.56/Mtok, like vendor
    targets = config.routes["llama-3.3-70b"].targets
    pool, vendor = (d.id for d in targets)
    slo = Slo(ttft_ms=500, value_usd=0.01)
    demand = Demand(prompt_tokens=100_000, output_tokens=100)  # the pool is dearer by a hair

    def first(pool_ttft: float, prefer: bool) -> str:
        stats = {
            pool: Stats(ttft_ms=pool_ttft, tpot_ms=10, p_fail=0, in_flight=0),
            vendor: Stats(ttft_ms=200, tpot_ms=10, p_fail=0, in_flight=0),
        }
        ranking = rank(
            targets, stats, demand, strategy=Strategy.BALANCED, slo=slo, draws=Draws(),
            prefer_owned=prefer,
        )  # fmt: skip
        return ranking.ranked[0].deployment.id

    assert first(200, prefer=False) == pool  # cost and speed tie: either may win
    assert first(400, prefer=True) == pool  # meets the target: owned first
    assert first(900, prefer=True) == vendor  # would miss it: spill


DNS_POOL = POOL.replace(
    "    replicas:\n      - http://10.0.0.11:8000/v1\n"
    "      - {url: http://10.0.0.12:8000/v1, metrics_url: http://10.0.0.12:9090/metrics}\n",
    "    replicas: {dns: 'http://vllm-headless.llm.svc:8000/v1', refresh_s: 5}\n",
).replace("BILLING", "reserved")


def test_replicas_may_be_a_dns_name(tmp_path: Path) -> None:
    dep = load(tmp_path, DNS_POOL).deployments["h100-east/llama-3.3-70b"]
    assert dep.pool is not None and dep.pool.replicas == ()
    assert dep.pool.dns is not None
    assert (dep.pool.dns.url, dep.pool.dns.metrics_path, dep.pool.dns.refresh_s) == (
        "http://vllm-headless.llm.svc:8000/v1",
        "/metrics",
        5.0,
    )
    assert dep.base_url == "http://vllm-headless.llm.svc:8000/v1"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("refresh_s: 5", "refresh_s: 0"),
         "providers.yaml:5: providers.h100-east.replicas.dns.refresh_s: must be >= 0.1"),
        (("refresh_s: 5", "every: 5"),
         "providers.yaml:5: providers.h100-east.replicas.dns.every: unknown key"),
        (("'http://vllm", "'vllm"), "replicas.dns.dns: must be an http:// or https:// URL"),
    ],
)  # fmt: skip
def test_bad_dns_replicas_name_file_line(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, DNS_POOL.replace(*edit))
    assert expected in str(err.value), str(err.value)
