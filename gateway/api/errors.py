"""Render every error in OpenAI's shape: one place, by type."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gateway.api.shapes import error_json
from gateway.errors import GatewayError, InvalidRequest, UpstreamStatusError, error_object

log = logging.getLogger("gateway.api")


def openai_error(
    status: int, message: str, type_: str, code: str | None, param: str | None = None
) -> Response:
    body = error_object(message, type_, code, param)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def render(exc: GatewayError) -> Response:
    if isinstance(exc, UpstreamStatusError) and not exc.is_retryable:
        passed = _upstream_error_body(exc.upstream_body)
        if passed is not None:
            return Response(passed, status_code=exc.status_code, media_type="application/json")
    response = Response(
        orjson.dumps(exc.body()), status_code=exc.status_code, media_type="application/json"
    )
    response.headers.update(exc.headers())
    return response


def _upstream_error_body(raw: bytes) -> bytes | None:
    """Keep a vendor's own OpenAI-shaped error: it tells the client what its request got wrong."""
    try:
        obj: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        err = obj["error"]
        shaped = error_object(
            err.get("message"), err.get("type"), err.get("code"), err.get("param")
        )
        return orjson.dumps(shaped)
    return None


def install(app: FastAPI) -> None:
    async def gateway_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        if exc.status_code >= 500:
            log.warning("%s: %s", type(exc).__name__, exc.message)
        return render(exc)

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        return render(InvalidRequest(str(first.get("msg", "Invalid request.")), param=param))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
        code = "not_found" if exc.status_code == 404 else None
        body = error_json(request.url.path, exc.status_code, str(exc.detail), type_, code)
        response = Response(body, status_code=exc.status_code, media_type="application/json")
        response.headers.update(exc.headers or {})
        return response

    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return openai_error(
            500, "The gateway hit an internal error.", "server_error", "internal_error"
        )

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
