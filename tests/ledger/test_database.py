"""GATEWAY_DATABASE_URL: plain URLs work, the driver is chosen here, errors are one clean line."""

from __future__ import annotations

import pytest

from gateway.ledger.database import LedgerConfigError, parse_database_url


def test_plain_urls_get_their_async_driver() -> None:
    assert parse_database_url(None).url.drivername == "sqlite+aiosqlite"
    assert parse_database_url(None).url.database == "gateway.db"
    pg = parse_database_url("postgresql://u:pw@db:5432/ledger?options=-csearch_path%3Dspend")
    assert pg.url.drivername == "postgresql+asyncpg" and pg.dialect == "postgresql"
    assert pg.server_settings == {"search_path": "spend"}
    assert "pw" not in pg.safe_url
    assert parse_database_url("postgres://h/db?sslmode=require").ssl == "require"
    assert parse_database_url("sqlite:///var/x.db").dialect == "sqlite"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:s3cret@h/db", "unsupported database 'mysql'"),
        ("not a url s3cret", "not a valid URL"),
        ("sqlite://", "needs a file path"),
        ("postgresql+pg8000://u:s3cret@h/db", "unsupported Postgres driver"),
    ],
)
def test_bad_urls_are_one_clear_line_without_the_secret(url: str, message: str) -> None:
    with pytest.raises(LedgerConfigError, match=message) as info:
        parse_database_url(url)
    assert "s3cret" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        "sqlite:///gateway.db",
        "sqlite:////var/lib/gw/ledger.db",
        "sqlite:///dir%20x/y.db",
        "sqlite+pysqlite:///a.db",
        "sqlite:///x.db?timeout=5",  # not plain: through make_url
    ],
)
def test_sqlite_urls_read_without_sqlalchemy_mean_what_make_url_says(raw: str) -> None:
    from sqlalchemy.engine import make_url

    expected = make_url(raw).set(drivername="sqlite+aiosqlite")
    db = parse_database_url(raw)
    assert db.url == expected and db.sqlite_path == expected.database
    assert db.dialect == "sqlite" and db.safe_url == expected.render_as_string()
