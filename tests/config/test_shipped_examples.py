"""The shipped providers.yaml's commented examples are real: uncommented, each one loads."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config.loader import load_config

SHIPPED = Path(__file__).resolve().parents[2] / "providers.yaml"
# A commented provider block: "  # name:" then its lines, indented deeper, all commented.
_BLOCK = re.compile(r"^  # ([a-z0-9-]+):\n((?:  #   .*\n)+)", re.M)


def examples() -> dict[str, str]:
    text = SHIPPED.read_text()
    return {
        m.group(1): f"  {m.group(1)}:\n"
        + "".join(line.replace("  # ", "  ", 1) + "\n" for line in m.group(2).splitlines())
        for m in _BLOCK.finditer(text)
    }


def test_every_commented_provider_example_loads(tmp_path: Path) -> None:
    found = examples()
    assert {"anthropic", "azure-eu", "gemini", "h100-east", "aws", "gcp", "cohere"} <= set(found)
    account = tmp_path / "service-account.json"
    account.write_text("{}")
    for name, block in found.items():
        block = re.sub(r"credentials_file: \S+", f"credentials_file: {account}", block)
        (tmp_path / "providers.yaml").write_text("providers:\n" + block)
        (tmp_path / "policies").mkdir(exist_ok=True)
        env = {v: "k" for v in re.findall(r"_env: (\w+)", block)}  # api_key_env, aws_*_env
        config = load_config(tmp_path / "providers.yaml", tmp_path / "policies", env)
        assert config.deployments, name
        assert all(d.provider == name for d in config.deployments.values())
