"""litellm, imported only when a provider served through it is configured: once, on a thread of
its own (the import takes seconds and must not stall the event loop, e.g. on a reload), with
every network call of its own (cost map, beta-header lists, telemetry) and its callbacks off."""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import os
import threading
from concurrent.futures import Future
from types import ModuleType

# Read by litellm at import: its bundled copies, never a download.
_OFFLINE = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_OFFLINE_MODE": "true",
}
# Module attributes that would make litellm log, call back or report on its own. Set whether or
# not this version has them (1.110 has no `telemetry`; older ones do).
_QUIET: dict[str, object] = {
    "telemetry": False,
    "logging": False,
    "turn_off_message_logging": True,
    "suppress_debug_info": True,
    "return_response_headers": True,  # the vendor's rate-limit headers, for quota headroom
    # httpx rather than its aiohttp transport: one HTTP stack for every vendor, which respx
    # mocks in tests (the long tail is not our hot path).
    "disable_aiohttp_transport": True,
}
_CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "service_callback",
    "_async_success_callback",
    "_async_failure_callback",
)


@functools.cache
def start() -> Future[ModuleType]:
    """Begin the import (once per process); the future holds the configured module."""
    future: Future[ModuleType] = Future()
    threading.Thread(target=_load, args=(future,), name="litellm-import", daemon=True).start()
    return future


async def litellm() -> ModuleType:
    """The configured module, awaited without blocking the event loop."""
    return await asyncio.wrap_future(start())


def _load(future: Future[ModuleType]) -> None:
    try:
        os.environ.update(_OFFLINE)
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        module = importlib.import_module("litellm")
        configure(module)
    except BaseException as exc:  # handed to whoever awaits the module (ImportError, mostly)
        future.set_exception(exc)
    else:
        future.set_result(module)


def configure(module: ModuleType) -> None:
    for name, value in _QUIET.items():
        setattr(module, name, value)
    for name in _CALLBACK_LISTS:
        setattr(module, name, [])
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
