"""Policies: every shipped example passes `gateway check`; every broken file names its file:line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gateway.config.loader import load_config
from gateway.config.yamlsrc import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))
PROVIDERS = """\
providers:
  fast:
    base_url: http://127.0.0.1:9/v1
    region: us
    models:
      m:
        typical_ttft_ms: 300
        capabilities: [tools]
        price: {input_per_mtok: 1, output_per_mtok: 2}
  cheap:
    base_url: http://127.0.0.1:10/v1
    region: eu
    models:
      m: {capabilities: [json_mode], price: {input_per_mtok: 0.1, output_per_mtok: 0.2}}
"""
ALL_KEYS = {  # every provider available, so that every target is checked
    line.split(":", 1)[1].strip(): "set"
    for line in (ROOT / "providers.yaml").read_text().splitlines()
    if line.strip().startswith("api_key_env:")
}


def test_every_example_policy_passes_check() -> None:
    config = load_config(ROOT / "providers.yaml", ROOT / "policies", ALL_KEYS)
    assert len(list((ROOT / "policies").glob("*.yaml"))) >= 5
    assert {"llama-70b", "llama-70b-fast", "llama-70b-owned", "llama-70b-eu", "llama-8b"} <= set(
        config.routes
    )
    eu = config.routes["llama-70b-eu"]
    assert [d.id for d in eu.targets] == ["nebius/llama-3.3-70b"]
    assert [(d.id, why) for d, why in eu.excluded] == [
        ("together/llama-3.3-70b", "region us not in eu")
    ]
    assert config.routes["llama-3.3-70b-instruct"] is config.routes["llama-70b"]
    assert config.routes["llama-70b"].teams["research"].strategy.value == "fastest"


@pytest.mark.parametrize("broken", BROKEN, ids=lambda p: p.stem)
def test_broken_policy_names_file_line_and_problem(tmp_path: Path, broken: Path) -> None:
    expected = re.match(r"# expect: (.*)", broken.read_text()).group(1)  # type: ignore[union-attr]
    (tmp_path / "providers.yaml").write_text(PROVIDERS)
    (tmp_path / "policies").mkdir()
    shutil.copy(broken, tmp_path / "policies" / broken.name)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "providers.yaml", tmp_path / "policies", {})
    messages = [str(p) for p in info.value.problems]
    assert any(f"{broken.name}:{expected}" in m for m in messages), messages


def test_check_command_json_for_ci(tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text(PROVIDERS)
    (tmp_path / "policies").mkdir()
    shutil.copy(Path(__file__).parent / "broken" / "weights.yaml", tmp_path / "policies")
    gateway = str(Path(sys.executable).with_name("gateway"))
    args = [
        gateway,
        "check",
        "--providers",
        "providers.yaml",
        "--policies",
        "policies",
        "--format",
        "json",
    ]
    done = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, env=os.environ, check=False
    )
    assert done.returncode == 2
    report = orjson.loads(done.stdout)
    assert report["ok"] is False
    (problem,) = report["problems"]
    assert problem["line"] == 6 and problem["field"] == "routes.canary.weights"
    assert "Traceback" not in done.stderr


def test_a_route_used_for_messages_may_target_chat_models(tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text(PROVIDERS)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(
        "routes:\n  claude-ish:\n    targets: [fast/m]\n    operations: [chat, messages]\n"
    )
    config = load_config(tmp_path / "providers.yaml", tmp_path / "policies", {})
    assert [d.id for d in config.routes["claude-ish"].targets] == ["fast/m"]  # translated
