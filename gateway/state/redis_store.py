"""Shared Store on Redis: atomic quota by Lua scripts, estimates merged across gateway replicas.

Per request: one EVALSHA to reserve, one to settle (on a single Redis through one auto-pipelined
connection, scripts.py and resp_pipe.py: the caller's reservation and the deployment's go out in one
write, as do the settles of every request finishing together). Everything else (reading headroom and
in-flight, publishing this replica's latency estimates, renewing in-flight leases) runs in a
background loop. If Redis goes away, routing goes on from local state with this replica's share
of each quota, and the store reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Coroutine, Iterable, Mapping
from dataclasses import replace
from typing import Any

import orjson
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from gateway.config.runtime import Deployment
from gateway.core.circuit import Breaker, held_open
from gateway.core.estimators import Estimate, Outcome, apply, merge
from gateway.core.jitter import jitter
from gateway.core.latency_fit import LogFit
from gateway.core.pool_sharing import PoolShare
from gateway.state.pool_share import RedisPoolShare
from gateway.state.quota import (
    LEASE_MS,
    WINDOW_MS,
    Denied,
    Grant,
    LocalQuota,
    headroom,
    usable,
)
from gateway.state.redis_reply import as_text
from gateway.state.scripts import ScriptRunner, lua, runner_for
from gateway.state.tenant_limits import (
    RedisTenantLimits,
    TenantDenied,
    TenantGrant,
    TenantLimits,
)

log = logging.getLogger("gateway.state")
_RESERVE, _SETTLE, _RELEASE, _RENEW = (lua(n) for n in ("reserve", "settle", "release", "renew"))
REPLICA_TTL_S = 10.0  # a replica that stopped publishing is gone from the merged view
RENEW_EVERY_S = 5.0
CLOSE_TIMEOUT_S = 2.0
_SHARED = (
    "ttft_ms",
    "tpot_ms",
    "latency_ms",
    "fails",
    "total",
    "updated_at",
    "hint_headroom",
    "hint_at",
    "hint_ttl_s",
    "breaker",
    "ttft_fit",
    "tpot_fit",
    "last_fail_at",
)


class RedisStore:
    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        prefix: str = "gw:",
        refresh_s: float = 0.25,
        window_ms: int = WINDOW_MS,
        budget_fail_closed: bool = False,
        scripts: ScriptRunner | None = None,  # default: the pipeline to a single Redis
    ) -> None:
        self.client = client
        self.window_ms = window_ms
        self.prefix = prefix
        self.replica_id = uuid.uuid4().hex[:12]
        self._refresh_s = refresh_s
        # The request path's scripts (reserve, settle, the caller's): one pipeline for all.
        self.scripts = scripts if scripts is not None else runner_for(client)
        self._tenants = RedisTenantLimits(
            client, prefix=prefix, fail_closed=budget_fail_closed, runner=self.scripts
        )
        self._renew = client.register_script(_RENEW.source)
        self._releases: set[asyncio.Task[None]] = set()
        self._deployments: dict[str, Deployment] = {}
        self._local: dict[str, Estimate] = {}  # this replica's own estimates
        self._remote: dict[str, dict[str, Estimate]] = {}  # other replicas', by replica id
        self._usage: dict[str, tuple[float, int]] = {}  # headroom, in-flight from Redis
        self._view: dict[str, Estimate] = {}
        self._in_flight: dict[str, Grant] = {}
        self._replicas = 1
        self._fallback = LocalQuota(window_ms=window_ms)
        self._degraded_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- the request path ------------------------------------------------------------------

    def snapshot(self) -> Mapping[str, Estimate]:
        return self._view

    def reserve(self, dep: Deployment, tokens: int) -> Coroutine[Any, Any, Grant | Denied]:
        """Sent now (with the pipeline, in the same write as whatever else is asked in this
        loop iteration), answered when awaited."""
        resid = os.urandom(12).hex()
        if self._degraded_since is not None:
            return self._answer(None, dep, tokens, resid)
        args: list[Any] = [resid, tokens, self.window_ms, LEASE_MS]
        for lim in map(usable, dep.limits):
            args += [lim.rpm or 0, lim.tpm or 0, lim.max_concurrency or 0]
        return self._answer(self.scripts.run(_RESERVE, self._keys(dep), args), dep, tokens, resid)

    async def _answer(
        self, sent: Awaitable[Any] | None, dep: Deployment, tokens: int, resid: str
    ) -> Grant | Denied:
        if sent is not None:
            try:
                result = await sent
            except RedisError as exc:
                self._degrade(exc)
            else:
                if result[0] == 1:
                    scopes = tuple(lim.scope for lim in dep.limits)
                    grant = Grant(dep.id, dep.provider, resid, int(result[1]), tokens, scopes)
                    self._in_flight[resid] = grant
                    return grant
                limit, index, retry_ms = as_text(result[1]), int(result[2]), int(result[3])
                return Denied(dep.id, limit, dep.limits[index].scope, max(retry_ms, 1) / 1000)
        return self._fallback.reserve(dep, tokens, resid, int(time.time() * 1000))

    async def reserve_for(
        self, tenant: Awaitable[TenantGrant | TenantDenied], dep: Deployment, tokens: int
    ) -> tuple[TenantGrant | TenantDenied, Grant | Denied | None]:
        if not self.scripts.eager:  # (redis-py: one after the other, as each is awaited)
            allowed = await tenant
            if isinstance(allowed, TenantDenied):
                return allowed, None
            return allowed, await self.reserve(dep, tokens)
        asked = self.reserve(dep, tokens)  # in the caller's reservation's write
        try:
            allowed = await tenant
        except BaseException:  # (the client left, say): the slot is not kept meanwhile
            self._give_back(asked)
            raise
        if isinstance(allowed, TenantDenied):
            self._give_back(asked)
            return allowed, None
        return allowed, await asked

    def _give_back(self, asked: Awaitable[Grant | Denied]) -> None:
        """Release a reservation never used, off the client's path."""
        task = asyncio.create_task(self._release(asked))
        self._releases.add(task)  # (a reference, or the task could be collected mid-flight)
        task.add_done_callback(self._releases.discard)

    async def _release(self, asked: Awaitable[Grant | Denied]) -> None:
        """Give back a reservation never used: no outcome to fold in, its window entry gone."""
        grant = await asked
        if not isinstance(grant, Grant):
            return
        self._in_flight.pop(grant.resid, None)
        if grant.local:
            self._fallback.release(grant)
            return
        if self._degraded_since is None:
            keys = self._scope_keys(grant.provider, grant.scopes)
            try:
                await self.scripts.run(_RELEASE, keys, [grant.resid, grant.tokens])
            except RedisError as exc:
                self._degrade(exc)

    async def settle(self, grant: Grant, outcome: Outcome, tokens_used: int) -> None:
        est = apply(self._local.get(outcome.deployment_id) or Estimate(), outcome)
        self._local[outcome.deployment_id] = est
        self._rebuild(outcome.deployment_id)
        self._in_flight.pop(grant.resid, None)
        if grant.local:
            self._fallback.settle(grant, tokens_used)
            return
        dep = self._deployments.get(grant.deployment_id)
        if dep is None or self._degraded_since is not None:
            return  # its lease expires by itself
        args: list[str | int] = [grant.resid, grant.at_ms, grant.tokens, tokens_used]
        try:
            await self.scripts.run(_SETTLE, self._keys(dep), args)
        except RedisError as exc:
            self._degrade(exc)

    async def hold_open(self, deployment_id: str) -> None:
        est = self._local.get(deployment_id) or self._view.get(deployment_id)
        if est is not None:
            now = time.time()
            breaker = held_open(est.breaker, now, jitter(now))
            self._local[deployment_id] = replace(est, breaker=breaker)  # shared on next publish
            self._rebuild(deployment_id)

    # -- lifecycle -------------------------------------------------------------------------

    def track(self, deployments: Iterable[Deployment]) -> None:
        self._deployments = {d.id: d for d in deployments}

    async def start(self) -> None:
        try:
            await self.refresh()
        except RedisError as exc:
            self._degrade(exc)
        self._task = asyncio.create_task(self._loop(), name="redis-store-refresh")

    async def close(self) -> None:
        # Bounded at every step: a dying Redis must not hold up the gateway's shutdown.
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, CLOSE_TIMEOUT_S)
        with contextlib.suppress(RedisError, TimeoutError):
            await asyncio.wait_for(
                self.client.hdel(self._est_key, self.replica_id), CLOSE_TIMEOUT_S
            )
        with contextlib.suppress(RedisError, TimeoutError):
            await asyncio.wait_for(self.scripts.close(), CLOSE_TIMEOUT_S)
        with contextlib.suppress(RedisError, TimeoutError):
            await asyncio.wait_for(self.client.aclose(), CLOSE_TIMEOUT_S)

    def tenant_limits(self) -> TenantLimits:
        return self._tenants

    def pool_share(self) -> PoolShare:
        """Pools share their load and affinity through this same Redis."""
        return RedisPoolShare(self.client, prefix=self.prefix, gateway_id=self.replica_id)

    def health(self) -> Mapping[str, object]:
        ok = self._degraded_since is None
        out: dict[str, object] = {"backend": "redis", "ok": ok, "replicas": self._replicas}
        if not ok:
            out["degraded_for_s"] = round(time.time() - (self._degraded_since or 0.0), 1)
            out["detail"] = "Redis unreachable: routing on local state with a local quota share"
        return out

    # -- background ------------------------------------------------------------------------

    async def _loop(self) -> None:
        last_renew = time.time()
        while not self._closing:
            await asyncio.sleep(self._refresh_s)
            try:
                if self._degraded_since is not None:
                    await self.client.ping()
                    log.warning("Redis is reachable again: shared state and quotas resumed")
                    self._degraded_since = None
                await self.refresh()
                if time.time() - last_renew > RENEW_EVERY_S:
                    await self._renew_leases()
                    last_renew = time.time()
            except RedisError as exc:
                if self._closing:
                    return  # redis-py may turn our cancellation into a connection error
                self._degrade(exc)
            except Exception:  # the loop must survive anything, or state silently goes stale
                log.exception("state refresh failed")

    async def refresh(self) -> None:
        """One pipelined exchange: publish our estimates, read everyone's, read quota usage."""
        now = time.time()
        deps = list(self._deployments.values())
        published = {k: {f: getattr(e, f) for f in _SHARED} for k, e in self._local.items()}
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self._est_key, self.replica_id, orjson.dumps({"at": now, "est": published}))
        pipe.hgetall(self._est_key)
        now_ms = int(now * 1000)
        for dep in deps:
            for w, tk, c in _triples(self._keys(dep)):
                pipe.zcount(w, now_ms - self.window_ms, "+inf")
                pipe.get(tk)
                pipe.zcount(c, now_ms, "+inf")
        results = await pipe.execute()
        self._read_estimates(results[1], now)
        values = iter(results[2:])
        for dep in deps:
            free, in_flight = 1.0, 0
            for lim in dep.limits:
                requests, tokens, leases = next(values), next(values), next(values)
                free = min(
                    free, headroom(usable(lim), int(requests), int(tokens or 0), int(leases))
                )
                if lim.scope.startswith("m:"):
                    in_flight = int(leases)
            self._usage[dep.id] = (free, in_flight)
        for dep_id in {*self._deployments, *self._local}:
            self._rebuild(dep_id)

    def _read_estimates(self, raw: Mapping[Any, Any], now: float) -> None:
        remote: dict[str, dict[str, Estimate]] = {}
        for key, value in raw.items():
            replica = as_text(key)
            data = orjson.loads(value)
            if replica == self.replica_id or now - float(data["at"]) > REPLICA_TTL_S:
                continue
            remote[replica] = {dep: _estimate(fields) for dep, fields in data["est"].items()}
        self._remote = remote
        self._replicas = len(remote) + 1
        self._fallback.share = 1.0 / self._replicas

    async def _renew_leases(self) -> None:
        by_provider: dict[str, list[Grant]] = {}
        for grant in self._in_flight.values():
            by_provider.setdefault(grant.provider, []).append(grant)
        for grants in by_provider.values():
            keys = sorted({k for g in grants for k in self._lease_keys(g)})
            await self._renew(keys=keys, args=[LEASE_MS, *(g.resid for g in grants)])

    def _rebuild(self, dep_id: str) -> None:
        parts = [r[dep_id] for r in self._remote.values() if dep_id in r]
        if dep_id in self._local:
            parts.append(self._local[dep_id])
        est = merge(parts) if parts else Estimate()
        free, in_flight = self._usage.get(dep_id, (1.0, 0))
        self._view[dep_id] = replace(est, quota_headroom=free, in_flight=in_flight)

    def _degrade(self, exc: RedisError) -> None:
        if self._degraded_since is None:
            self._degraded_since = time.time()
            log.warning(
                "Redis unreachable (%s): routing from local state with 1/%d of each quota "
                "until it is back",
                type(exc).__name__,
                self._replicas,
            )

    # -- keys: every key of a provider shares its hash tag, so scripts work on a cluster ------

    @property
    def _est_key(self) -> str:
        return f"{self.prefix}estimates"

    def _keys(self, dep: Deployment) -> list[str]:
        return self._scope_keys(dep.provider, [lim.scope for lim in dep.limits])

    def _scope_keys(self, provider: str, scopes: Iterable[str]) -> list[str]:
        base = f"{self.prefix}{{{provider}}}"
        keys: list[str] = []
        for scope in scopes:
            keys += [f"{base}:w:{scope}", f"{base}:t:{scope}", f"{base}:c:{scope}"]
        return keys

    def _lease_keys(self, grant: Grant) -> list[str]:
        return [f"{self.prefix}{{{grant.provider}}}:c:{scope}" for scope in grant.scopes]


def _estimate(fields: dict[str, Any]) -> Estimate:
    breaker = fields.pop("breaker", None)
    for fit in ("ttft_fit", "tpot_fit"):  # a replica of an older version sends none
        raw = fields.get(fit)
        fields[fit] = LogFit(**raw) if raw else None
    return Estimate(**fields, breaker=Breaker(**breaker) if breaker else Breaker())


def _triples(keys: list[str]) -> list[tuple[str, str, str]]:
    return [(keys[i], keys[i + 1], keys[i + 2]) for i in range(0, len(keys), 3)]
