"""Parsing replicas' Prometheus text: vLLM (new and old names), SGLang, TGI, and junk."""

from __future__ import annotations

import pytest

from gateway.sim import EngineSpec, VendorStats
from gateway.sim.metrics import render
from gateway.sim.pool import Engine
from gateway.upstream.pool_metrics import ReplicaLoad, has_metrics, parse_load

VLLM = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="llama 70b"} 3.0
vllm:num_requests_running{engine="1",model_name="llama 70b"} 2.0
vllm:num_requests_waiting{model_name="llama 70b"} 4.0 1700000000000
vllm:kv_cache_usage_perc{model_name="llama 70b"} 0.25
vllm:kv_cache_usage_perc{model_name="other"} 0.5
"""


def test_vllm_sums_gauges_over_label_sets_and_takes_the_peak_usage() -> None:
    assert parse_load(VLLM, "vllm", at=7.0) == ReplicaLoad(5.0, 4.0, 0.5, 7.0)


def test_older_vllm_reports_gpu_cache_usage() -> None:
    text = (
        "vllm:num_requests_running 1\nvllm:num_requests_waiting 0\nvllm:gpu_cache_usage_perc 0.9\n"
    )
    assert parse_load(text, "vllm", at=0.0) == ReplicaLoad(1.0, 0.0, 0.9, 0.0)


def test_sglang_and_tgi_names() -> None:
    sglang = "sglang:num_running_reqs 7\nsglang:num_queue_reqs 2\nsglang:token_usage 0.4\n"
    assert parse_load(sglang, "sglang", at=1.0) == ReplicaLoad(7.0, 2.0, 0.4, 1.0)
    tgi = 'tgi_batch_current_size 3\ntgi_queue_size{x="y"} 1\n'
    assert parse_load(tgi, "tgi", at=1.0) == ReplicaLoad(3.0, 1.0, None, 1.0)
    assert not has_metrics("openai")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<html>not metrics</html>",
        "vllm:num_requests_running 1\n",
        "vllm:num_requests_running x\n",
    ],
)
def test_missing_or_broken_gauges_give_no_load(text: str) -> None:
    assert parse_load(text, "vllm", at=0.0) is None


def test_nan_is_no_signal() -> None:
    text = "vllm:num_requests_running NaN\nvllm:num_requests_waiting 0\n"
    assert parse_load(text, "vllm", at=0.0) is None


@pytest.mark.parametrize("kind", ["vllm", "sglang"])
def test_reads_what_the_simulator_exports(kind: str) -> None:
    engine = Engine(EngineSpec(kind=kind), VendorStats())
    engine.running, engine.kv_tokens = 2, 1024
    text = render(engine, VendorStats(), 'model "x"').decode()
    load = parse_load(text, kind, at=3.0)
    assert load is not None
    assert (load.running, load.waiting) == (2.0, 0.0)
    assert load.kv_usage == pytest.approx(1024 / 65536)
