"""`GET /metrics` of a simulated replica: Prometheus text format with vLLM's or SGLang's names.

Only the load signals a router reads: running and waiting requests, KV-cache usage, the prefix
cache and token counters, each labelled with `model_name` like the real engines do. Prefix-cache
counters are in tokens, as vLLM's are (hit rate = hits / queries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.sim.pool import Engine
    from gateway.sim.stats import VendorStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (name, type, help) -> value; the order is the order of the exposition.
Sample = tuple[str, str, str, float]


def _vllm(engine: Engine, stats: VendorStats) -> list[Sample]:
    usage = engine.kv_usage
    return [
        ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
         engine.running),
        ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
         engine.waiting),
        ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", usage),
        ("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.",
         usage),
        ("vllm:prefix_cache_queries_total", "counter",
         "Prefix cache queries, in terms of number of queried tokens.",
         stats.prefix_cache_queries),
        ("vllm:prefix_cache_hits_total", "counter",
         "Prefix cache hits, in terms of number of cached tokens.", stats.prefix_cache_hits),
        ("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
         stats.prompt_tokens),
        ("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
         stats.completion_tokens),
    ]  # fmt: skip


def _sglang(engine: Engine, stats: VendorStats) -> list[Sample]:
    queries = stats.prefix_cache_queries
    hit_rate = stats.prefix_cache_hits / queries if queries else 0.0
    return [
        ("sglang:num_running_reqs", "gauge", "The number of running requests.", engine.running),
        ("sglang:num_queue_reqs", "gauge", "The number of requests in the waiting queue.",
         engine.waiting),
        ("sglang:token_usage", "gauge", "The token usage.", engine.kv_usage),
        ("sglang:cache_hit_rate", "gauge", "The prefix cache hit rate.", hit_rate),
        ("sglang:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
         stats.prompt_tokens),
        ("sglang:generation_tokens_total", "counter", "Number of generation tokens processed.",
         stats.completion_tokens),
    ]  # fmt: skip


def render(engine: Engine, stats: VendorStats, model_name: str) -> bytes:
    """The exposition text for one replica serving `model_name`."""
    samples = _sglang(engine, stats) if engine.spec.kind == "sglang" else _vllm(engine, stats)
    label = model_name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    lines: list[str] = []
    for name, kind, help_, value in samples:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f'{name}{{model_name="{label}"}} {float(value)!r}')
    return ("\n".join(lines) + "\n").encode()
