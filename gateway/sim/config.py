"""Configuration of simulated vendors: pydantic models loaded from a YAML file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import os


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Outage(_Frozen):
    """A window, in seconds after the server started, during which the vendor misbehaves."""

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    mode: Literal["error", "hang", "reset"] = "error"

    @model_validator(mode="after")
    def _ordered(self) -> Outage:
        if self.end_s <= self.start_s:
            raise ValueError("outage end_s must be greater than start_s")
        return self


Fault = Literal["none", "cut", "stall", "malformed", "reset", "hang"]


class EngineSpec(_Frozen):
    """A self-hosted inference engine (vLLM or SGLang) with continuous batching.

    With an engine, a vendor stops using the fixed `ttft_ms`, `ttft_jitter` and `tokens_per_s`
    (a `-ttft-NNNms` model suffix still overrides the computed TTFT). Prompt tokens are counted
    as characters / 4, as everywhere in the simulator.
    """

    kind: Literal["vllm", "sglang"] = "vllm"  # which Prometheus names `GET /metrics` uses
    max_batch: int = Field(default=8, ge=1)  # sequences decoding at once; more wait, FIFO
    kv_cache_tokens: int = Field(default=65_536, ge=1)  # KV capacity: admission also waits on it
    prefill_tokens_per_s: float = Field(default=20_000.0, gt=0)  # one prefill at a time
    decode_tokens_per_s: float = Field(default=80.0, gt=0)  # per sequence, when running alone
    # Per-sequence decode speed = decode_tokens_per_s / (1 + slowdown * (running - 1)).
    decode_slowdown_per_seq: float = Field(default=0.05, ge=0)
    block_tokens: int = Field(default=16, ge=1)  # prefix-cache block size, in tokens
    prefix_cache_blocks: int = Field(default=2048, ge=0)  # LRU capacity in blocks; 0 disables
    prefix_hit_ttft_factor: float = Field(default=0.0, ge=0, le=1)  # cost of a cached token
    base_ttft_ms: float = Field(default=5.0, ge=0)  # fixed scheduling overhead per request


Dialect = Literal["openai", "anthropic"]


class VendorSpec(_Frozen):
    """How one simulated vendor behaves; every field has a default."""

    port: int = Field(default=0, ge=0, le=65535)
    # openai: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models (Bearer key);
    # anthropic: /v1/messages, /v1/messages/count_tokens, /v1/models as api.anthropic.com
    # (x-api-key, anthropic-version required, Anthropic's error shapes and rate-limit headers).
    dialect: Dialect = "openai"
    models: list[str] = Field(default_factory=lambda: ["sim-model"], min_length=1)
    ttft_ms: float = Field(default=100.0, ge=0)
    ttft_jitter: float = Field(default=0.0, ge=0, le=1)
    tokens_per_s: float = Field(default=50.0, gt=0)
    output_tokens: int = Field(default=32, ge=0)
    embedding_dimensions: int = Field(default=8, ge=1, le=8192)  # when a request has none
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=500, ge=400, le=599)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    api_key: str | None = None
    outages: list[Outage] = Field(default_factory=list)
    # An injected fault, drawn per successful request with probability `fault_rate` (seeded):
    # - cut: the connection is closed after `fault_after_chunks` stream events, without [DONE]
    #   (non-streamed: after the headers and half the body);
    # - stall: stops sending after `fault_after_chunks` events but keeps the connection open
    #   (non-streamed: after the headers and half the body), as long as the fault stays "stall";
    # - malformed: non-streamed, a 200 whose body is not JSON; streamed, a `data: {broken`
    #   event after `fault_after_chunks` events, then the rest of the stream as usual;
    # - reset: the connection is reset before any response (as the outage mode);
    # - hang: no response while the fault stays "hang" (or until the client leaves).
    fault: Fault = "none"
    fault_after_chunks: int = Field(default=0, ge=0)
    fault_rate: float = Field(default=1.0, ge=0, le=1)
    seed: int = 0
    # Optional self-hosted engine: batching, queueing, prefix cache and `GET /metrics`.
    engine: EngineSpec | None = None
    # `run_sim` starts this many copies named `name-0`, `name-1`... (ports `port + i` when
    # `port` is set, seeds `seed + i`); 1 keeps the plain name. See `replica_specs`.
    replicas: int = Field(default=1, ge=1)


class SimConfig(_Frozen):
    """A set of simulated vendors, keyed by vendor name."""

    vendors: dict[str, VendorSpec] = Field(default_factory=dict)

    def expanded(self) -> dict[str, VendorSpec]:
        """Every server to start, with `replicas` expanded (see `replica_specs`)."""
        out: dict[str, VendorSpec] = {}
        for name, spec in self.vendors.items():
            for replica, one in replica_specs(name, spec).items():
                if replica in out:
                    raise ValueError(f"two simulated vendors are named {replica!r}")
                out[replica] = one
        return out


def replica_specs(name: str, spec: VendorSpec) -> dict[str, VendorSpec]:
    """The vendors one spec stands for: itself, or `spec.replicas` numbered copies."""
    if spec.replicas == 1:
        return {name: spec}
    return {
        f"{name}-{i}": VendorSpec.model_validate(
            {**spec.model_dump(), "replicas": 1, "port": spec.port and spec.port + i}
            | {"seed": spec.seed + i}
        )
        for i in range(spec.replicas)
    }


def load_sim_config(path: str | os.PathLike[str]) -> SimConfig:
    """Read and validate a simulator YAML file."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return SimConfig.model_validate(raw or {})
