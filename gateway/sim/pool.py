"""The engine model of a simulated self-hosted replica (vLLM / SGLang): batching and prefix cache.

One `Engine` per replica. A request becomes a running sequence when a batch slot and room in the
KV cache are free (else it waits, FIFO); its time to first token is then the prefill of the part
of its prompt the prefix cache does not hold, queued behind the prefills admitted before it (one
prefill runs at a time); then every running sequence decodes at a speed that falls with the batch
size. Timing is computed, never stepped: a request costs a few dict operations and sleeps.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import OrderedDict, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from gateway.sim.config import EngineSpec
    from gateway.sim.stats import VendorStats

CHARS_PER_TOKEN = 4  # the simulator's token estimate, as in wire.parse_chat_request


def block_hashes(prompt: str, block_tokens: int) -> list[int]:
    """The chained hashes of the prompt's full blocks: hash i covers blocks 0..i.

    A block is `block_tokens * 4` bytes of UTF-8, and there are as many full blocks as the
    token estimate (characters / 4) holds. One pass of CRC-32, carried from block to block.
    """
    width = block_tokens * CHARS_PER_TOKEN
    data = prompt.encode("utf-8", "surrogatepass")
    view = memoryview(data)
    crc = zlib.crc32
    hashes: list[int] = []
    chained = 0
    for i in range(min(len(prompt), len(data)) // width):
        chained = crc(view[i * width : (i + 1) * width], chained)
        hashes.append(chained << 20 | i)  # the index makes chain collisions rarer
    return hashes


class PrefixCache:
    """An LRU of block hashes; a request reuses the longest cached leading run of its blocks."""

    __slots__ = ("_blocks", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._blocks: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._blocks)

    def lookup(self, hashes: list[int]) -> int:
        """How many leading blocks are cached; then every block of the prompt is cached.

        Blocks are touched deepest first, so that eviction (oldest first) drops the tails of
        prefixes before their heads, as vLLM does: a surviving head stays useful.
        """
        blocks = self._blocks
        hits = 0
        for h in hashes:
            if h not in blocks:
                break
            hits += 1
        if self.capacity == 0:
            return 0
        touch = blocks.move_to_end
        for h in reversed(hashes):
            blocks[h] = None
            touch(h)
        while len(blocks) > self.capacity:
            blocks.popitem(last=False)
        return hits

    def clear(self) -> None:
        self._blocks.clear()


class PrefillLane:
    """Prefills run one after another: each starts when the previous one is done."""

    __slots__ = ("free_at",)

    def __init__(self) -> None:
        self.free_at = 0.0

    def schedule(self, now: float, duration_s: float) -> float:
        """Queue a prefill of `duration_s` at `now`; returns the time it completes."""
        self.free_at = max(now, self.free_at) + duration_s
        return self.free_at

    def queued_s(self, now: float) -> float:
        """Prefill work still ahead of a request admitted at `now`."""
        return max(0.0, self.free_at - now)


def prefill_s(spec: EngineSpec, prompt_tokens: int, cached_tokens: int) -> float:
    """Prefill time: uncached tokens at full cost, cached ones at `prefix_hit_ttft_factor`."""
    cost = prompt_tokens - cached_tokens + cached_tokens * spec.prefix_hit_ttft_factor
    return cost / spec.prefill_tokens_per_s


def decode_tokens_per_s(spec: EngineSpec, running: int) -> float:
    """Per-sequence decode speed with `running` sequences in the batch."""
    return spec.decode_tokens_per_s / (1 + spec.decode_slowdown_per_seq * (max(1, running) - 1))


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request that holds a batch slot: how long until its first token, and why."""

    ttft_s: float  # from admission: prefill queue + own prefill + base overhead
    cached_tokens: int
    prefill_queue_s: float  # prefill work that was ahead of it


class Engine:
    """Admission (batch slots and KV room, FIFO), prefix cache and decode speed of one replica."""

    def __init__(self, spec: EngineSpec, stats: VendorStats) -> None:
        self.spec = spec
        self.stats = stats
        self.cache = PrefixCache(spec.prefix_cache_blocks)
        self.lane = PrefillLane()
        self.running = 0
        self.kv_tokens = 0  # tokens (prompt + answer) reserved by the running sequences
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def kv_usage(self) -> float:
        """Fraction of the KV cache the running sequences hold (may pass 1 for a huge prompt)."""
        return self.kv_tokens / self.spec.kv_cache_tokens

    def decode_tokens_per_s(self) -> float:
        """Per-sequence decode speed now; streams re-read it as the batch changes."""
        return decode_tokens_per_s(self.spec, self.running)

    @asynccontextmanager
    async def sequence(
        self, prompt: str, prompt_tokens: int, kv_tokens: int
    ) -> AsyncIterator[Admitted]:
        """Wait for a slot, look the prompt up in the prefix cache, hold the slot while in use."""
        await self._acquire(kv_tokens)
        try:
            yield self.admit(prompt, prompt_tokens, asyncio.get_running_loop().time())
        finally:
            self._release(kv_tokens)

    def admit(self, prompt: str, prompt_tokens: int, now: float) -> Admitted:
        """Prefix-cache lookup and prefill scheduling for a request that got its slot at `now`."""
        spec = self.spec
        hits = self.cache.lookup(block_hashes(prompt, spec.block_tokens))
        cached = min(hits * spec.block_tokens, prompt_tokens - 1)  # one token is always computed
        self.stats.prefix_cache_queries += prompt_tokens
        self.stats.prefix_cache_hits += max(0, cached)
        queued = self.lane.queued_s(now)
        done_at = self.lane.schedule(now, prefill_s(spec, prompt_tokens, max(0, cached)))
        return Admitted(done_at - now + spec.base_ttft_ms / 1000, max(0, cached), queued)

    def reset(self) -> None:
        """Forget the prefix cache and the prefill backlog (running sequences keep their slots)."""
        self.cache.clear()
        self.lane = PrefillLane()

    # -- admission -------------------------------------------------------------------------

    def _fits(self, kv_tokens: int) -> bool:
        if self.running >= self.spec.max_batch:
            return False
        return self.running == 0 or self.kv_tokens + kv_tokens <= self.spec.kv_cache_tokens

    def _take(self, kv_tokens: int) -> None:
        self.running += 1
        self.kv_tokens += kv_tokens

    async def _acquire(self, kv_tokens: int) -> None:
        if not self._waiters and self._fits(kv_tokens):
            self._take(kv_tokens)
            return
        entry = (kv_tokens, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        self.stats.max_queue_depth = max(self.stats.max_queue_depth, len(self._waiters))
        try:
            await entry[1]
        except asyncio.CancelledError:
            if entry[1].cancelled():  # left while waiting (_wake may have dropped it already)
                if entry in self._waiters:
                    self._waiters.remove(entry)
                self._wake()
            else:  # granted a slot in the same tick as it was cancelled
                self._release(kv_tokens)
            raise

    def _release(self, kv_tokens: int) -> None:
        self.running -= 1
        self.kv_tokens -= kv_tokens
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self._fits(waiters[0][0]):
            kv_tokens, future = waiters.popleft()
            if future.done():  # cancelled, its task not yet resumed
                continue
            self._take(kv_tokens)
            future.set_result(None)
