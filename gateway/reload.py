"""Hot reload: a new config is validated whole and swapped in atomically, or refused and logged.

Triggers: a change to providers.yaml or policies/ (watchfiles), POST /admin/reload, SIGHUP.
In-flight requests finish on the config they started with; the last good config keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from watchfiles import awatch

from gateway.config.loader import load_config
from gateway.config.runtime import Config
from gateway.config.yamlsrc import ConfigError
from gateway.ledger import cost_map
from gateway.ledger.pricing import needs_cost_map
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.state.store import Store
from gateway.upstream.base import Upstream

log = logging.getLogger("gateway.reload")
CLOSE_AFTER_S = 120.0  # an adapter replaced by a reload is closed once its requests are done

BuildUpstreams = Callable[[Config, Settings, Mapping[str, str]], dict[str, Upstream]]


class Reloader:
    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        router: Router,
        store: Store,
        upstreams: dict[str, Upstream],
        build: BuildUpstreams,
    ) -> None:
        self._settings, self._env, self._router, self._store = settings, env, router, store
        self.upstreams = upstreams
        self._build = build
        self._lock = asyncio.Lock()
        self._retired: set[asyncio.Task[None]] = set()
        self.loaded_at = time.time()
        self.last_error: list[str] = []
        self.last_error_at: float | None = None

    async def reload(self, reason: str) -> bool:
        async with self._lock:
            providers, policies = self._settings.providers, self._settings.policies
            try:
                # In a thread: however long a parse takes, the event loop keeps serving.
                config = await asyncio.to_thread(load_config, providers, policies, self._env)
            except ConfigError as exc:
                self.last_error = [str(p) for p in exc.problems]
                self.last_error_at = time.time()
                log.warning(
                    "config reload (%s) refused, still serving %s:\n%s",
                    reason,
                    self._router.config.version,
                    exc,
                )
                return False
            except Exception as exc:  # a loader bug: refuse the files, keep the last good config
                self.last_error = [f"{providers}:0: cannot load: {type(exc).__name__}: {exc}"]
                self.last_error_at = time.time()
                log.exception(
                    "config reload (%s) failed, still serving %s",
                    reason,
                    self._router.config.version,
                )
                return False
            if config.version == self._router.config.version:
                self.last_error = []
                return True
            if needs_cost_map(config.deployments.values()):  # loaded once, off the event loop
                await asyncio.to_thread(cost_map.load)
            self._swap(config)
            log.info("config reloaded (%s): version %s", reason, config.version)
            return True

    def _swap(self, config: Config) -> None:
        old = self._router.config
        fresh = self._build(config, self._settings, self._env)
        kept: dict[str, Upstream] = {}
        for provider, adapter in fresh.items():
            if provider in self.upstreams and _same_provider(old, config, provider):
                kept[provider] = self.upstreams[provider]
                self._retire(adapter)  # built for nothing: the old one serves on
            else:
                kept[provider] = adapter
        for provider, adapter in self.upstreams.items():
            if kept.get(provider) is not adapter:
                self._retire(adapter)
        self.upstreams = kept
        self._store.track(config.deployments.values())
        self._router.swap(config, kept)
        self.loaded_at = time.time()
        self.last_error = []

    def _retire(self, adapter: Upstream) -> None:
        async def close_later() -> None:
            await asyncio.sleep(CLOSE_AFTER_S)
            await adapter.aclose()

        task = asyncio.create_task(close_later())
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def watch(self) -> None:
        """Reload whenever providers.yaml or a policy file changes, until cancelled.

        Nothing else stops it: a watcher that died would leave every later edit unloaded
        while the gateway looks healthy. A failing reload is logged; a failing watch is
        logged and started again (it looks for the policies folder anew), backing off.
        """
        delay = 1.0
        while True:
            try:
                async for _ in self._changes():
                    delay = 1.0
                    try:
                        await self.reload("file change")
                    except Exception:
                        log.exception("config reload (file change) failed; still watching")
            except Exception:
                log.exception("config file watcher failed; watching again in %.0f s", delay)
            else:
                log.warning("config file watcher stopped; watching again in %.0f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    def _changes(self) -> AsyncIterator[Any]:
        providers = self._settings.providers.resolve()
        policies = self._settings.policies.resolve()
        roots = [providers.parent] + ([policies] if policies.is_dir() else [])

        def relevant(_: Any, path: str) -> bool:
            p = Path(path)
            return p == providers or (p.parent == policies and p.suffix in (".yaml", ".yml"))

        return awatch(*roots, watch_filter=relevant, debounce=200, recursive=False)

    def install_sighup(self) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload("SIGHUP")))
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            return lambda: None

        def remove() -> None:
            loop.remove_signal_handler(signal.SIGHUP)

        return remove

    async def close(self) -> None:
        for task in list(self._retired):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(u.aclose() for u in self.upstreams.values()), return_exceptions=True)

    def status(self) -> dict[str, Any]:
        config = self._router.config
        return {
            "version": config.version,
            "loaded_at": self.loaded_at,
            "files": list(config.files),
            "routes": sorted(config.routes),
            "deployments": sorted(config.deployments),
            "unavailable": dict(config.unavailable),
            "default_route": config.default_route,
            "last_error": self.last_error or None,
            "last_error_at": self.last_error_at,
        }


def _same_provider(old: Config, new: Config, provider: str) -> bool:
    def shape(config: Config) -> set[tuple[object, ...]]:
        return {
            (d.kind, d.base_url, d.api_key_env, d.pool, d.litellm, d.api_version)
            for d in config.deployments.values()
            if d.provider == provider
        }

    return shape(old) == shape(new)
