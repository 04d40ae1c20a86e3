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


class VendorSpec(_Frozen):
    """How one simulated vendor behaves; every field has a default."""

    port: int = Field(default=0, ge=0, le=65535)
    models: list[str] = Field(default_factory=lambda: ["sim-model"], min_length=1)
    ttft_ms: float = Field(default=100.0, ge=0)
    ttft_jitter: float = Field(default=0.0, ge=0, le=1)
    tokens_per_s: float = Field(default=50.0, gt=0)
    output_tokens: int = Field(default=32, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=500, ge=400, le=599)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    api_key: str | None = None
    outages: list[Outage] = Field(default_factory=list)
    seed: int = 0


class SimConfig(_Frozen):
    """A set of simulated vendors, keyed by vendor name."""

    vendors: dict[str, VendorSpec] = Field(default_factory=dict)


def load_sim_config(path: str | os.PathLike[str]) -> SimConfig:
    """Read and validate a simulator YAML file."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return SimConfig.model_validate(raw or {})
