"""Anthropic-style prompt caching: explicit breakpoints, written once, read on identical prefixes.

A request marks cache breakpoints (`cache_control` on a tool, a system block or a message
block, or at the top level for the whole prompt). As at Anthropic, the longest marked prefix
already cached is read; the rest up to the last breakpoint is written; what follows it is plain
input. Prefixes are keyed by model and content, in a small LRU per vendor (no TTL).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class CacheUse:
    """Prompt tokens split as Anthropic reports them; they sum to the whole prompt."""

    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    @property
    def total(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


class PromptCache:
    """Cached prefixes by (model, content) digest, least recently used dropped first."""

    __slots__ = ("_entries", "capacity")

    def __init__(self, capacity: int = MAX_ENTRIES) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def use(
        self, model: str, prompt: str, breakpoints: list[int], tokens: Callable[[str], int]
    ) -> CacheUse:
        """Account one request: `breakpoints` are ascending offsets in `prompt` where a
        cacheable prefix ends; `tokens` counts the tokens of a text."""
        total = tokens(prompt)
        if not breakpoints:
            return CacheUse(total, 0, 0)
        keys = [_key(model, prompt[:end]) for end in breakpoints]
        read = 0
        for end, key in zip(reversed(breakpoints), reversed(keys), strict=True):
            if key in self._entries:
                read = tokens(prompt[:end])
                break
        written = tokens(prompt[: breakpoints[-1]]) - read
        for key in keys:
            self._entries[key] = None
            self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return CacheUse(total - read - written, written, read)

    def clear(self) -> None:
        self._entries.clear()


def _key(model: str, prefix: str) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(model.encode())
    digest.update(b"\0")
    digest.update(prefix.encode("utf-8", "surrogatepass"))
    return digest.digest()
