"""Token usage of one request, the same for every vendor and operation (pricing reads it)."""

from __future__ import annotations

from dataclasses import dataclass

# A bound on any one count of one request: above every context window, far below the ledger's
# 32-bit columns; a vendor's figure past it is clamped (and the row flagged), never trusted.
MAX_TOKENS = 10_000_000
CLAMPED = "clamped"  # Usage.note: a vendor figure was out of range
ESTIMATED = "estimated"  # Usage.note: the vendor sent no usable usage: our own count


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
    note: str | None = None  # CLAMPED or ESTIMATED: lands in the spend row's tags

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def token_count(value: object) -> int | None:
    """A vendor's token count, clamped to MAX_TOKENS; None when it is not a count at all
    (negative, fractional, a string, a boolean)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        return None
    return min(value, MAX_TOKENS)
