"""Deterministic simulated text: the i-th token of an answer is a function of (prompt, i) only."""

from __future__ import annotations

import zlib

LEXICON: tuple[str, ...] = (
    "the", "model", "routes", "a", "request", "to", "fast", "cheap",
    "vendor", "and", "tokens", "flow", "back", "over", "stream", "while",
    "latency", "stays", "low", "when", "quota", "runs", "out", "another",
    "provider", "takes", "charge", "gently", "every", "answer", "is", "simulated",
    "cloud", "river", "signal", "bright", "quiet", "engine", "north", "garden",
    "silver", "orbit", "paper", "window", "harbor", "forest", "copper", "lantern",
    "meadow", "summit", "pixel", "thread", "anchor", "canvas", "falcon", "glacier",
    "marble", "velvet", "ember", "prism", "tundra", "cobalt", "willow", "zenith",
)  # fmt: skip

_MASK = len(LEXICON) - 1  # the lexicon has a power-of-two size


def prompt_key(prompt: str) -> int:
    """A 32-bit key for a prompt; tokens are derived from it."""
    return zlib.crc32(prompt.encode("utf-8", "surrogatepass"))


def token(key: int, index: int) -> str:
    """The `index`-th token for a prompt key: one lexicon word followed by a space."""
    return LEXICON[zlib.crc32(index.to_bytes(4, "little"), key) & _MASK] + " "


def tokens(prompt: str, count: int) -> list[str]:
    """The first `count` tokens of the answer to `prompt`."""
    key = prompt_key(prompt)
    return [token(key, i) for i in range(count)]


def completion_text(prompt: str, count: int) -> str:
    """The full answer of `count` tokens to `prompt`."""
    return "".join(tokens(prompt, count))
