"""Several workers must share one state: `gateway serve --workers N` without Redis is refused
unless per-worker state is accepted, and then it says what that costs."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import Settings
from gateway.state.factory import check_workers

REDIS = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("workers", "redis_url", "accepted", "warned"),
    [
        (1, None, False, False),  # one process: its memory is the whole state
        (1, REDIS, False, False),
        (4, REDIS, False, False),  # shared through Redis, like replicas
        (4, REDIS, True, False),
        (4, None, True, True),  # accepted, and said out loud
    ],
)
def test_shared_or_single_or_accepted_is_allowed(
    workers: int, redis_url: str | None, accepted: bool, warned: bool
) -> None:
    settings = Settings(workers=workers, redis_url=redis_url, per_worker_state=accepted)
    warning = check_workers(settings)
    assert (warning is not None) == warned
    if warning:
        assert "4 x 100" in warning and "--per-worker-state" in warning


def test_several_workers_on_memory_state_are_refused() -> None:
    with pytest.raises(ValueError, match="--workers 2 without GATEWAY_REDIS_URL") as refused:
        check_workers(Settings(workers=2, redis_url=None))
    assert "set GATEWAY_REDIS_URL, or accept per-worker state" in str(refused.value)


def test_serve_refuses_before_anything_else() -> None:
    handlers = list(logging.getLogger().handlers)
    env = {"GATEWAY_REDIS_URL": None, "GATEWAY_PER_WORKER_STATE": None}
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--no-auth"], env=env)
    assert result.exit_code == 2
    assert "error: --workers 2 without GATEWAY_REDIS_URL" in result.stderr
    assert logging.getLogger().handlers == handlers  # not even logging set up (nor a port bound)
