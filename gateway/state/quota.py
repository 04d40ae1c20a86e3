"""Quota: grants and denials, headroom math, and exact sliding windows in process memory."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.config.runtime import Deployment, ScopeLimit

WINDOW_MS = 60_000  # rpm and tpm are counted over a sliding minute, never a calendar one
LEASE_MS = 30_000  # an in-flight slot expires unless its replica renews it (crash safety)
# Kept free of a declared rpm/tpm: our window starts when we reserve, the vendor's when the
# request arrives (a few ms later), so at the window's edge the vendor can still count a request
# ours has let go. Reservations are atomic across replicas (one Lua script), so a small margin
# covers every replica at once.
SAFETY_MARGIN = 0.02


@dataclass(frozen=True, slots=True)
class Grant:
    deployment_id: str
    provider: str
    resid: str
    at_ms: int
    tokens: int
    scopes: tuple[str, ...]
    local: bool = False  # granted from the local fallback while the shared store was down


@dataclass(frozen=True, slots=True)
class Denied:
    deployment_id: str
    limit: str  # "rpm", "tpm" or "max_concurrency"
    scope: str
    retry_after_s: float


def headroom(limit: ScopeLimit, requests: int, tokens: int, in_flight: int) -> float:
    """Fraction of the tightest limit still free (1.0 without limits, <= 0 when exhausted)."""
    free = 1.0
    if limit.rpm:
        free = min(free, 1.0 - requests / limit.rpm)
    if limit.tpm:
        free = min(free, 1.0 - tokens / limit.tpm)
    if limit.max_concurrency:
        free = min(free, 1.0 - in_flight / limit.max_concurrency)
    return free


def header_headroom(headers: Mapping[str, str]) -> float | None:
    """The provider's own remaining/limit from its x-ratelimit-* headers (None if not sent)."""
    fractions = []
    for kind in ("requests", "tokens"):
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        limit = headers.get(f"x-ratelimit-limit-{kind}")
        if remaining is None or limit is None:
            continue
        try:
            r, lim = float(remaining), float(limit)
        except ValueError:
            continue
        if lim > 0:
            fractions.append(max(r, 0.0) / lim)
    return min(fractions) if fractions else None


def scaled(limit: ScopeLimit, share: float) -> ScopeLimit:
    """This replica's share of a limit (the fallback when the shared store is unreachable)."""

    def part(value: int | None) -> int | None:
        return max(1, int(value * share)) if value else value

    return ScopeLimit(limit.scope, part(limit.rpm), part(limit.tpm), part(limit.max_concurrency))


def usable(limit: ScopeLimit) -> ScopeLimit:
    """The part of a declared limit we fill: rpm and tpm less the safety margin (none below 50,
    where a skew of a few ms rarely holds a whole request); concurrency is exact (we know our
    in-flight requests)."""

    def less(value: int | None) -> int | None:
        return max(1, value - math.floor(value * SAFETY_MARGIN)) if value else value

    return ScopeLimit(limit.scope, less(limit.rpm), less(limit.tpm), limit.max_concurrency)


@dataclass
class _Window:
    entries: deque[tuple[int, str]] = field(default_factory=deque)  # (at_ms, resid), in order
    tokens_of: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    in_flight: set[str] = field(default_factory=set)

    def expire(self, now_ms: int, window_ms: int) -> None:
        cutoff = now_ms - window_ms
        while self.entries and self.entries[0][0] <= cutoff:
            _, resid = self.entries.popleft()
            self.tokens -= self.tokens_of.pop(resid, 0)

    def denial(
        self, limit: ScopeLimit, tokens: int, now_ms: int, window_ms: int
    ) -> tuple[str, float] | None:
        oldest_s = (self.entries[0][0] + window_ms - now_ms) / 1000 if self.entries else 1.0
        if limit.rpm and len(self.entries) + 1 > limit.rpm:
            return "rpm", oldest_s
        if limit.tpm and self.tokens and self.tokens + tokens > limit.tpm:
            return "tpm", oldest_s
        if limit.max_concurrency and len(self.in_flight) >= limit.max_concurrency:
            return "max_concurrency", 1.0
        return None


class LocalQuota:
    """The same contract as the Redis scripts, for one process (exact sliding windows)."""

    def __init__(self, share: float = 1.0, window_ms: int = WINDOW_MS) -> None:
        self.share = share
        self.window_ms = window_ms
        self._windows: dict[tuple[str, str], _Window] = {}

    def _window(self, provider: str, scope: str) -> _Window:
        key = (provider, scope)
        win = self._windows.get(key)
        if win is None:
            win = self._windows[key] = _Window()
        return win

    def reserve(self, dep: Deployment, tokens: int, resid: str, now_ms: int) -> Grant | Denied:
        windows = [(self._window(dep.provider, lim.scope), lim) for lim in dep.limits]
        for win, lim in windows:
            win.expire(now_ms, self.window_ms)
            lim_here = usable(scaled(lim, self.share) if self.share != 1.0 else lim)
            denial = win.denial(lim_here, tokens, now_ms, self.window_ms)
            if denial is not None:
                return Denied(dep.id, denial[0], lim.scope, max(denial[1], 0.001))
        for win, _ in windows:
            win.entries.append((now_ms, resid))
            win.tokens_of[resid] = tokens
            win.tokens += tokens
            win.in_flight.add(resid)
        scopes = tuple(lim.scope for lim in dep.limits)
        return Grant(dep.id, dep.provider, resid, now_ms, tokens, scopes, local=True)

    def settle(self, grant: Grant, tokens_used: int) -> None:
        for scope in grant.scopes:
            win = self._window(grant.provider, scope)
            win.in_flight.discard(grant.resid)
            if grant.resid in win.tokens_of:
                win.tokens += tokens_used - win.tokens_of[grant.resid]
                win.tokens_of[grant.resid] = tokens_used

    def release(self, grant: Grant) -> None:
        """Undo a reservation never used, as if it had not been made (its window entry too)."""
        for scope in grant.scopes:
            win = self._window(grant.provider, scope)
            win.in_flight.discard(grant.resid)
            if grant.resid in win.tokens_of:
                win.tokens -= win.tokens_of.pop(grant.resid)
                win.entries = deque(e for e in win.entries if e[1] != grant.resid)

    def usage(self, dep: Deployment, now_ms: int) -> tuple[float, int]:
        """(headroom over every scope, in-flight on this deployment)."""
        free, in_flight = 1.0, 0
        for lim in dep.limits:
            win = self._window(dep.provider, lim.scope)
            win.expire(now_ms, self.window_ms)
            lim_here = usable(scaled(lim, self.share) if self.share != 1.0 else lim)
            free = min(free, headroom(lim_here, len(win.entries), win.tokens, len(win.in_flight)))
            if lim.scope.startswith("m:"):
                in_flight = len(win.in_flight)
        return free, in_flight
