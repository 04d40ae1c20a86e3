"""Parse a replica's Prometheus `/metrics` text into its load signals (pure: text in, numbers out).

vLLM names `vllm:num_requests_running|waiting` and `vllm:kv_cache_usage_perc` (older releases:
`vllm:gpu_cache_usage_perc`); SGLang `sglang:num_running_reqs|num_queue_reqs` and
`sglang:token_usage`; TGI `tgi_batch_current_size` and `tgi_queue_size`. Samples of one name
with several label sets (a replica serving several models) are summed, usage takes the max.
"""

from __future__ import annotations

from dataclasses import dataclass

# engine -> (running, waiting, KV usage names in order of preference)
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "vllm": (
        ("vllm:num_requests_running",),
        ("vllm:num_requests_waiting",),
        ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    ),
    "sglang": (("sglang:num_running_reqs",), ("sglang:num_queue_reqs",), ("sglang:token_usage",)),
    "tgi": (("tgi_batch_current_size",), ("tgi_queue_size",), ()),
}


@dataclass(frozen=True, slots=True)
class ReplicaLoad:
    """One scrape of one replica."""

    running: float
    waiting: float
    kv_usage: float | None  # 0..1; None when the engine does not export it
    at: float  # monotonic seconds when the scrape answered


def has_metrics(engine: str) -> bool:
    """`engine: openai` is a plain OpenAI-compatible server: load comes from our in-flight only."""
    return engine in _NAMES


def parse_load(text: str, engine: str, at: float) -> ReplicaLoad | None:
    """The load signals in `text`, or None if it lacks the running/waiting gauges of `engine`."""
    running_names, waiting_names, usage_names = _NAMES[engine]
    wanted = set(running_names) | set(waiting_names) | set(usage_names)
    sums: dict[str, float] = {}
    peaks: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name, value = _sample(line)
        if name not in wanted or value is None:
            continue
        sums[name] = sums.get(name, 0.0) + value
        peaks[name] = max(peaks.get(name, 0.0), value)
    running = _first(sums, running_names)
    waiting = _first(sums, waiting_names)
    if running is None or waiting is None:
        return None
    return ReplicaLoad(running, waiting, _first(peaks, usage_names), at)


def _sample(line: str) -> tuple[str, float | None]:
    """`name{labels} value [timestamp]` -> (name, value); label values may hold spaces."""
    brace = line.find("{")
    if brace >= 0:
        name = line[:brace]
        rest = line[line.rfind("}") + 1 :].split()
    else:
        name, *rest = line.split()
    if not rest:
        return name, None
    try:
        value = float(rest[0])
    except ValueError:
        return name, None
    if value != value:  # NaN: no signal
        return name, None
    return name, value


def _first(values: dict[str, float], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in values:
            return values[name]
    return None
