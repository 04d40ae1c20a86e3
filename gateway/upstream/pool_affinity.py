"""Prefix affinity of one pool: which replica (by URL) last took a prompt prefix, with a TTL.

The table is local (looked up on every request, no I/O). What this gateway decides goes to an
outbox, and what the other gateways decided comes back through `learn`: a shared Store
exchanges both in the background (gateway.state.pool_share), so every gateway replica sends a
prefix to the replica that has it cached without a round trip per request.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

PREFIX_CHARS = 1024  # the leading ~256 tokens (16 blocks of 16): typically the system prompt
TTL_S = 300.0
MAX_ENTRIES = 50_000
# A key is republished when its entry is older than this share of the TTL (keeps it alive in
# the other gateways' tables without publishing every hit).
REPUBLISH_SHARE = 0.25


class AffinityTable:
    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._table: dict[int, tuple[str, float]] = {}  # prefix key -> (replica URL, expires)
        self._outbox: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._table)

    def get(self, key: int | None, now: float) -> str | None:
        if key is None:
            return None
        hit = self._table.get(key)
        if hit is None or hit[1] < now:
            return None
        return hit[0]

    def remember(self, key: int, url: str, now: float) -> None:
        old = self._table.pop(key, None)  # re-insert: the dict's order is the eviction order
        self._put(key, url, now + self.ttl_s)
        if old is None or old[0] != url or old[1] - now < self.ttl_s * (1 - REPUBLISH_SHARE):
            self._outbox[key] = url

    def learn(self, entries: Iterable[tuple[int, str]], now: float) -> None:
        """Another gateway sent these prefixes to these replicas just now."""
        for key, url in entries:
            self._table.pop(key, None)
            self._put(key, url, now + self.ttl_s)

    def take_outbox(self) -> dict[int, str]:
        out, self._outbox = self._outbox, {}
        return out

    def _put(self, key: int, url: str, expires: float) -> None:
        table = self._table
        table[key] = (url, expires)
        while len(table) > self.max_entries:
            del table[next(iter(table))]


def prefix_key(text: str) -> int | None:
    """A hash of the leading blocks; None for prompts too short to share a useful prefix."""
    if len(text) < PREFIX_CHARS:
        return None
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))
