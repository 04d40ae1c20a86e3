"""litellm's model cost map, read from the copy its package ships (no network, loaded once).

It is read as a file rather than through `import litellm`, which takes ~10 s and would stall
the event loop the first time an unpriced deployment served a request.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

MILLION = Decimal(1_000_000)
_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens; cache reads and writes default to the input price, reasoning to
    the output price."""

    input: Decimal
    output: Decimal
    cached: Decimal | None = None
    reasoning: Decimal | None = None
    cache_write: Decimal | None = None

    def effective(self) -> dict[str, Decimal]:
        """Each kind of token's rate as billed: an unpriced cache read or write costs input,
        unpriced reasoning costs output."""
        return {
            "input": self.input,
            "cache_read": self.input if self.cached is None else self.cached,
            "cache_write": self.input if self.cache_write is None else self.cache_write,
            "output": self.output,
            "reasoning": self.output if self.reasoning is None else self.reasoning,
        }


@functools.cache
def load() -> dict[str, Any]:
    """The whole map ({} when litellm is not installed). Cached for the process."""
    # Should anything import litellm itself later, it must use the local map too: no internet.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / _FILE
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def lookup(*names: str) -> Prices | None:
    """Prices of the first name the map knows with both an input and an output price."""
    found = lookup_named(*names)
    return None if found is None else found[0]


def lookup_named(*names: str) -> tuple[Prices, str] | None:
    """lookup(), with the name the prices were found under (`gateway models` shows it)."""
    cost_map = load()
    for name in names:
        entry = cost_map.get(name)
        if not isinstance(entry, dict):
            continue
        price_in = _per_mtok(entry.get("input_cost_per_token"))
        price_out = _per_mtok(entry.get("output_cost_per_token"))
        if price_in is None or price_out is None:
            continue
        prices = Prices(
            price_in,
            price_out,
            cached=_per_mtok(entry.get("cache_read_input_token_cost")),
            reasoning=_per_mtok(entry.get("output_cost_per_reasoning_token")),
            cache_write=_per_mtok(entry.get("cache_creation_input_token_cost")),
        )
        return prices, name
    return None


def _per_mtok(per_token: object) -> Decimal | None:
    if not isinstance(per_token, int | float) or isinstance(per_token, bool):
        return None
    return Decimal(str(per_token)) * MILLION  # via str: the decimal the file wrote, not binary
