"""Hostile config files (deep nesting, alias bombs, huge files) are refused as file:line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.config.yamlsrc import MAX_BYTES, ConfigError, parse_yaml

GOOD = "providers:\n  p:\n    base_url: http://127.0.0.1:9/v1\n    models:\n      m: {}\n"
DEEP_FLOW = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"
DEEP_MAPS = "a: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n"


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": each anchor is nine aliases of the one before, 9**9 strings."""
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def deep_block(levels: int) -> str:
    """Block mappings nested `levels` deep, one per line: level n starts on line n."""
    return "\n".join(" " * i + f"k{i}:" for i in range(levels)) + " 1\n"


def problems(tmp_path: Path, providers: str, policy: str | None = None) -> list[str]:
    (tmp_path / "providers.yaml").write_text(providers)
    (tmp_path / "policies").mkdir(exist_ok=True)
    if policy is not None:
        (tmp_path / "policies" / "bomb.yaml").write_text(policy)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "providers.yaml", tmp_path / "policies", {})
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("text", [DEEP_FLOW, DEEP_MAPS], ids=["sequences", "mappings"])
def test_100k_deep_nesting_is_refused_with_file_line(tmp_path: Path, text: str) -> None:
    (found,) = problems(tmp_path, text)
    assert found.startswith(f"{tmp_path / 'providers.yaml'}:1: ")
    assert "nested deeper than 64 levels" in found


def test_nesting_error_names_the_line_where_the_bound_passes(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, GOOD, deep_block(100))
    assert found.startswith(f"{tmp_path / 'policies' / 'bomb.yaml'}:65: ")
    parse_yaml(deep_block(64), Path("ok.yaml"))  # the bound itself is fine


def test_deep_nesting_through_aliases_is_refused(tmp_path: Path) -> None:
    # Each anchor is 40 deep and holds the one before: only the expanded tree is too deep
    # (1,200 levels, a RecursionError once, though the file itself nests 41).
    nest = 40
    lines = ["a0: &a0 " + "[" * nest + "1" + "]" * nest]
    lines += [f"a{i}: &a{i} " + "[" * nest + f"*a{i - 1}" + "]" * nest for i in range(1, 30)]
    (found,) = problems(tmp_path, "\n".join(lines) + "\n")
    assert ":2: " in found and "nested deeper than 64 levels" in found


def test_alias_bomb_is_refused_quickly_with_file_line(tmp_path: Path) -> None:
    started = time.monotonic()
    (found,) = problems(tmp_path, GOOD, alias_bomb())
    assert time.monotonic() - started < 5  # it took ~40 s and GBs before
    assert found.startswith(f"{tmp_path / 'policies' / 'bomb.yaml'}:")
    assert "aliases expand to more than 100000 values" in found


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "a: &a [1, *a]\n")
    assert found.startswith(f"{tmp_path / 'providers.yaml'}:1: ")
    assert "alias *a inside the node it names" in found


def test_a_few_aliases_still_load(tmp_path: Path) -> None:
    text = GOOD.replace("m: {}", "m: &m {price: {input_per_mtok: 1, output_per_mtok: 2}}")
    text += "      n: *m\n"
    (tmp_path / "providers.yaml").write_text(text)
    (tmp_path / "policies").mkdir()
    config = load_config(tmp_path / "providers.yaml", tmp_path / "policies", {})
    assert config.deployments["p/n"].output_per_mtok == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int abc", "invalid literal"),
        ("!!timestamp 2020-13-45", "month must be in 1..12"),
        ("1" * 5000, "Exceeds the limit"),
    ],
)
def test_values_python_cannot_build_name_their_line(
    tmp_path: Path, value: str, message: str
) -> None:
    (found,) = problems(tmp_path, GOOD + f"x:\n  y: {value}\n")
    assert found.startswith(f"{tmp_path / 'providers.yaml'}:7: ")
    assert message in found


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, GOOD + "#" * MAX_BYTES + "\n")
    assert (
        found
        == f"{tmp_path / 'providers.yaml'}:0: file is larger than 5 MiB (a config is a few KiB)"
    )


def test_check_command_prints_file_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text(DEEP_FLOW)
    (tmp_path / "policies").mkdir()
    gateway = str(Path(sys.executable).with_name("gateway"))
    args = [gateway, "check", "--providers", "providers.yaml", "--policies", "policies"]
    done = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, env=os.environ, check=False
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    assert done.stderr.startswith("providers.yaml:1: ")
    assert "nested deeper than 64 levels" in done.stderr
