"""Pool state shared by the gateway replicas through Redis: in-flight load, prefix affinity and
each replica's safety limit.

Load and affinity go in one pipelined exchange for every pool, run by the pool scraper's loop
(every ~200 ms), off the request path. Keys are hash-tagged by the pool's provider name like
its quota keys:

- `{pool}:load`, a hash: field = gateway id, value = {"at": wall clock, "r": {replica URL:
  [in flight, prompt tokens not yet prefilled, send times of the latest in flight]}}. Each
  gateway sums the others' recent entries by replica; the send times tell which of their
  requests a scrape cannot have seen yet.
- `{pool}:aff`, a stream of affinity decisions ({"g": gateway, "e": [[prefix key, URL], ...]}),
  trimmed to the affinity TTL; each gateway reads what the others added since its last read.
- `{pool}:slots:<replica>`, a zset of in-flight leases: the one per-request step (one EVALSHA
  as a request is sent to a replica, one ZREM after it, off the reply's path), so a replica's
  safety limit holds across gateways even under bursts. Leases are renewed every few seconds
  and expire when a gateway dies.

Redis down: the others' load is forgotten (each gateway sees its own), slots are not taken (each
gateway keeps the limit on its own requests), the exchange retries. An entry that does not parse
(another version of the gateway, say) is skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from gateway.core.pool_sharing import PeerLoad, SharedPool
from gateway.state.quota import LEASE_MS
from gateway.state.redis_reply import as_text

log = logging.getLogger("gateway.pool")
PEER_TTL_S = 2.0  # another gateway's load older than this is not counted (it may be gone)
FORGET_S = 60.0  # ... and older than this is deleted
READ_MAX = 5_000  # affinity entries read per pool per exchange
CLOSE_TIMEOUT_S = 1.0
RENEW_EVERY_S = 5.0
_LUA = Path(__file__).with_name("lua")


class RedisPoolShare:
    def __init__(self, client: Redis | RedisCluster, *, prefix: str, gateway_id: str) -> None:
        self.client = client
        self.prefix = prefix
        self.gateway_id = gateway_id
        self._cursor: dict[str, str] = {}  # pool -> id of the last affinity entry read
        self._stale: dict[str, list[str]] = {}  # pool -> gateways gone long ago
        self._failing = False
        self.exchanges = 0
        self._slot = client.register_script((_LUA / "replica_slot.lua").read_text())
        self._renew = client.register_script((_LUA / "renew.lua").read_text())
        self._leases: dict[str, tuple[str, str]] = {}  # our lease id -> (pool, slots key)
        self._renewed_at = time.monotonic()
        self._releasing: set[asyncio.Task[None]] = set()

    # -- per request: a replica's in-flight slot ------------------------------------------------

    async def acquire(self, pool: str, url: str, limit: int) -> str | None:
        """A lease on one of the replica's `limit` slots; None: every gateway together has it
        full. "" (no lease): Redis is unavailable, the gateway decides on its own."""
        if self._failing:
            return ""
        lease, key = os.urandom(8).hex(), self._slots_key(pool, url)
        try:
            taken = await self._slot(keys=[key], args=[lease, limit, LEASE_MS])
        except RedisError as exc:
            self._lost({}, exc)
            return ""
        if not taken:
            return None
        self._leases[lease] = (pool, key)
        return lease

    def release(self, pool: str, url: str, lease: str) -> None:
        """The request left the replica: free its slot (in the background, off the reply)."""
        if not lease or self._leases.pop(lease, None) is None:
            return
        task = asyncio.create_task(self._zrem(self._slots_key(pool, url), lease))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _zrem(self, key: str, lease: str) -> None:
        with contextlib.suppress(RedisError):  # else it expires with its lease
            await self.client.zrem(key, lease)

    async def _renew_leases(self) -> None:
        by_pool: dict[str, list[tuple[str, str]]] = {}
        for lease, (pool, key) in self._leases.items():
            by_pool.setdefault(pool, []).append((lease, key))
        for leases in by_pool.values():
            keys = sorted({key for _, key in leases})
            await self._renew(keys=keys, args=[LEASE_MS, *(lease for lease, _ in leases)])

    # -- every scrape round: load and affinity --------------------------------------------------

    async def exchange(self, pools: Mapping[str, SharedPool]) -> None:
        if not pools:
            return
        now = time.time()
        now_ms = int(now * 1000)
        pipe = self.client.pipeline(transaction=False)
        reads: list[tuple[str, int, int]] = []  # (pool, index of its load, of its new entries)
        n = 0  # commands queued so far
        for name, pool in pools.items():
            load_key, aff_key = self._keys(name)
            ttl_ms = int(pool.affinity.ttl_s * 1000)
            load = {url: list(peer) for url, peer in pool.local_load().items()}
            pipe.hset(load_key, self.gateway_id, orjson.dumps({"at": now, "r": load}))
            pipe.pexpire(load_key, int(FORGET_S * 1000))
            pipe.hgetall(load_key)
            at_load = n + 2
            n += 3
            stale = self._stale.pop(name, [])
            if stale:
                pipe.hdel(load_key, *stale)
                n += 1
            # Entries taken here and lost to a failed exchange come back: remember() republishes
            # a key whose entry has aged, and the affinity is only a preference.
            outbox = pool.affinity.take_outbox()
            if outbox:
                entries = orjson.dumps([[k, u] for k, u in outbox.items()])
                pipe.xadd(aff_key, {"g": self.gateway_id, "e": entries}, minid=now_ms - ttl_ms)
                pipe.pexpire(aff_key, ttl_ms)
                n += 2
            cursor = self._cursor.get(name) or f"{now_ms - ttl_ms}-0"
            pipe.xrange(aff_key, min=f"({cursor}", max="+", count=READ_MAX)
            reads.append((name, at_load, n))
            n += 1
        try:
            results = await pipe.execute()
        except RedisError as exc:
            self._lost(pools, exc)
            return
        if self._failing:
            self._failing = False
            log.warning("pool state is shared through Redis again")
        self.exchanges += 1
        for name, at_load, at_stream in reads:
            self._read(name, pools[name], results[at_load], results[at_stream], now)
        if self._leases and time.monotonic() - self._renewed_at > RENEW_EVERY_S:
            self._renewed_at = time.monotonic()
            try:
                await self._renew_leases()
            except RedisError as exc:
                self._lost(pools, exc)

    async def close(self, pools: Mapping[str, SharedPool]) -> None:
        """Free the last slots and take this gateway's load out at once (both would expire
        anyway: leases after LEASE_MS, load after PEER_TTL_S)."""
        if self._releasing:
            await asyncio.wait(self._releasing, timeout=CLOSE_TIMEOUT_S)
        for name in pools:
            with contextlib.suppress(RedisError, TimeoutError):
                load_key, _ = self._keys(name)
                await asyncio.wait_for(self.client.hdel(load_key, self.gateway_id), CLOSE_TIMEOUT_S)

    def _read(self, name: str, pool: SharedPool, raw_load: Any, stream: Any, now: float) -> None:
        peers: dict[str, PeerLoad] = {}
        stale: list[str] = []
        for field, value in (raw_load or {}).items():
            gateway = as_text(field)
            if gateway == self.gateway_id:
                continue
            try:
                data = orjson.loads(value)
                age = now - float(data["at"])
                if age > FORGET_S:
                    stale.append(gateway)
                if age > PEER_TTL_S:
                    continue
                for url, (n, tokens, sent) in data["r"].items():
                    old = peers.get(url) or PeerLoad(0, 0, [])
                    peers[url] = PeerLoad(
                        old.in_flight + int(n),
                        old.fresh_tokens + int(tokens),
                        old.sent + [float(t) for t in sent],
                    )
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # not ours to read: that gateway's load is not counted
        pool.set_peer_load(peers)
        if stale:
            self._stale[name] = stale
        learned: list[tuple[int, str]] = []
        for entry_id, fields in stream or ():
            self._cursor[name] = as_text(entry_id)
            fields = {as_text(k): v for k, v in fields.items()}
            if as_text(fields.get("g", b"")) == self.gateway_id:
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError):
                learned += [(int(k), str(u)) for k, u in orjson.loads(fields["e"])]
        pool.affinity.learn(learned, time.monotonic())

    def _lost(self, pools: Mapping[str, SharedPool], exc: RedisError) -> None:
        for pool in pools.values():
            pool.set_peer_load({})
        if not self._failing:
            self._failing = True
            log.warning(
                "pool state cannot be shared through Redis (%s): each gateway routes its pools "
                "on its own load until it is back",
                type(exc).__name__,
            )

    def _keys(self, pool: str) -> tuple[str, str]:
        base = f"{self.prefix}{{{pool}}}"
        return f"{base}:load", f"{base}:aff"

    def _slots_key(self, pool: str, url: str) -> str:
        return f"{self.prefix}{{{pool}}}:slots:{zlib.crc32(url.encode()):08x}"
