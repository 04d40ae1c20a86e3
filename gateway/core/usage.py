"""Token usage of one request, the same for every vendor and operation (pricing reads it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Usage:
    """`prompt_tokens` counts every input token, cache reads and writes included;
    `cached_tokens` is the cache-read part of it and `cache_write_tokens` the cache-write part;
    `reasoning_tokens` is the part of `completion_tokens` spent reasoning."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
