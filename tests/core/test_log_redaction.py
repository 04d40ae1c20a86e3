"""Log records never carry a secret: known values and key-shaped strings are redacted, in the
message, its arguments and a traceback."""

from __future__ import annotations

import logging

import pytest

from gateway import logs


def test_secrets_are_redacted_from_messages_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    logs.install(["mk-known-secret-value"])
    log = logging.getLogger("gateway.test")
    log.warning("master %s, header %s", "mk-known-secret-value", "Bearer abcdefghijklmnop123")
    try:
        raise ValueError("refused key gw-AbCdEfGhIjKlMnOpQrStUvWx")
    except ValueError:
        log.exception("failed")
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "mk-known-secret-value" not in text
    assert "abcdefghijklmnop123" not in text
    assert "AbCdEfGhIjKlMnOpQrStUvWx" not in text
    assert text.count("[redacted]") >= 3
