"""The simulator's YAML schema: defaults, validation and the shipped demo file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from gateway.sim import DEMO_CONFIG, SimConfig, VendorSpec, load_sim_config

if TYPE_CHECKING:
    from pathlib import Path


def test_every_field_has_a_default() -> None:
    spec = VendorSpec(models=["m"])
    assert spec.port == 0
    assert spec.rpm is None
    assert spec.api_key is None
    assert spec.outages == []


def test_load_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        "vendors:\n"
        "  budget:\n"
        "    models: [llama-3.3-70b]\n"
        "    ttft_ms: 400\n"
        "    rpm: 10\n"
        "    outages:\n"
        "      - {start_s: 10, end_s: 20, mode: hang}\n"
    )
    config = load_sim_config(path)
    budget = config.vendors["budget"]
    assert budget.ttft_ms == 400
    assert budget.rpm == 10
    assert budget.outages[0].mode == "hang"


def test_empty_file_is_an_empty_fleet(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("")
    assert load_sim_config(path) == SimConfig()


@pytest.mark.parametrize(
    "fields",
    [
        {"unknown": 1},
        {"error_rate": 1.5},
        {"tokens_per_s": 0},
        {"models": []},
        {"outages": [{"start_s": 5, "end_s": 5}]},
        {"outages": [{"start_s": 0, "end_s": 5, "mode": "explode"}]},
    ],
)
def test_invalid_specs_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        VendorSpec.model_validate({"models": ["m"], **fields})


def test_specs_are_frozen() -> None:
    spec = VendorSpec(models=["m"])
    with pytest.raises(ValidationError):
        spec.ttft_ms = 1  # type: ignore[misc]


def test_demo_config() -> None:
    config = load_sim_config(DEMO_CONFIG)
    assert set(config.vendors) == {"budget", "standard", "premium"}
    for spec in config.vendors.values():
        assert set(spec.models) == {"llama-3.3-70b", "llama-3.1-8b"}
        assert spec.port == 0
    assert config.vendors["premium"].rpm == 600
