"""What a gateway imports to be ready (start-up time): a fresh interpreter creates the app and
runs its lifespan, as `gateway serve --no-auth` does on the embedded SQLite ledger. A file
already at the head revision needs neither Alembic nor SQLAlchemy (nor aiosqlite); a new file
does (it is migrated), and so does a gateway with keys (its key store), so the check can fail.
litellm's cost map is read only when a deployment is priced by it, the tokenizer loaded at
start only when a TPM limit will ask for counts. Neither redis-py nor hiredis is imported by a
gateway whose state is in memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path

    from gateway.app import create_app
    from gateway.ledger import cost_map
    from gateway.settings import Settings

    WORK = Path(sys.argv[1])
    WAIT_TOKENIZER = sys.argv[3] == "wait-tokenizer"

    async def main() -> None:
        settings = Settings(
            providers=WORK / "providers.yaml",
            policies=WORK / "policies",
            database_url=f"sqlite:///{WORK / 'ledger.db'}",
            ledger_spool_dir=WORK / "spool",
            watch_config=False,
            auth=sys.argv[2] == "auth",
            redis_url=None if sys.argv[2] != "redis" else "redis://127.0.0.1:6379/0",
            redis_prefix="test-startup-imports:",
            master_key="sk-master-test-0123456789",
        )
        app = create_app(settings, env={"OPENAI_KEY": "sk-test"})
        async with app.router.lifespan_context(app):
            for _ in range(600 if WAIT_TOKENIZER else 0):  # it loads in a thread
                if "tiktoken" in sys.modules:
                    break
                await asyncio.sleep(0.05)
            loaded = cost_map.load.cache_info().currsize > 0
            print("cost map loaded" if loaded else "cost map not loaded")
            print(json.dumps(sorted(m for m in sys.argv[4:] if m in sys.modules)))

    asyncio.run(main())
    """
)
PROVIDERS = """
providers:
  oai:
    base_url: http://openai.test/v1
    api_key_env: OPENAI_KEY
    models:
      gpt: {upstream: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 1}}
"""
LAZY = ["alembic", "sqlalchemy", "aiosqlite", "tiktoken", "redis", "hiredis"]


def start(work: Path, auth: str, wait: str = "-") -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(work), auth, wait, *LAZY],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-2:]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "providers.yaml").write_text(PROVIDERS)
    (tmp_path / "policies").mkdir()
    return tmp_path


def test_a_ledger_at_head_is_ready_without_alembic_or_sqlalchemy(work: Path) -> None:
    # The first start creates and migrates the file: that one needs them.
    assert start(work, "no-auth")[1] == '["aiosqlite", "alembic", "sqlalchemy"]'
    assert start(work, "no-auth")[1] == "[]"
    assert (work / "ledger.db").is_file()


def test_a_gateway_with_keys_opens_its_key_store(work: Path) -> None:
    start(work, "no-auth")  # migrated
    assert start(work, "auth")[1] == '["aiosqlite", "sqlalchemy"]'  # the store, not Alembic


def test_only_a_gateway_with_its_state_in_redis_imports_redis(work: Path) -> None:
    start(work, "no-auth")  # migrated
    assert start(work, "no-auth")[1] == "[]"
    assert start(work, "redis")[1] == '["hiredis", "redis"]'


def test_litellms_cost_map_is_loaded_only_for_a_deployment_it_prices(work: Path) -> None:
    assert start(work, "no-auth")[0] == "cost map not loaded"  # every model has its price
    unpriced = PROVIDERS + "      bare: {upstream: gpt-4o}\n"
    (work / "providers.yaml").write_text(unpriced)
    assert start(work, "no-auth")[0] == "cost map loaded"


def test_the_tokenizer_loads_at_start_only_for_a_tpm_limit(work: Path) -> None:
    assert "tiktoken" not in start(work, "no-auth", "-")[1]
    limited = PROVIDERS.replace("    models:", "    limits: {tpm: 1000000}\n    models:")
    (work / "providers.yaml").write_text(limited)
    assert "tiktoken" in start(work, "no-auth", "wait-tokenizer")[1]
