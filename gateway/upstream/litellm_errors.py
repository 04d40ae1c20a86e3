"""litellm's exceptions mapped by type, at this one boundary, onto our error tree: the router's
breakers, quotas and failover then act as for every other kind (429 with its Retry-After, 5xx
and timeouts retried elsewhere, a request's own fault relayed to the client)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType

import orjson

from gateway.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
    error_object,
)
from gateway.upstream.http_client import status_error
from gateway.upstream.redact import redact

# litellm class name -> (status we report, OpenAI error type, code), most specific first
# (ContextWindowExceededError is a BadRequestError; Timeout comes before APIConnectionError).
_STATUS: tuple[tuple[str, int, str, str | None], ...] = (
    ("ContextWindowExceededError", 400, "invalid_request_error", "context_length_exceeded"),
    ("ContentPolicyViolationError", 400, "invalid_request_error", "content_policy_violation"),
    ("BadRequestError", 400, "invalid_request_error", None),
    ("AuthenticationError", 401, "authentication_error", "invalid_api_key"),
    ("PermissionDeniedError", 403, "permission_error", None),
    ("NotFoundError", 404, "invalid_request_error", "model_not_found"),
    ("UnprocessableEntityError", 422, "invalid_request_error", None),
    ("RateLimitError", 429, "rate_limit_exceeded", "rate_limit_exceeded"),
    ("ServiceUnavailableError", 503, "service_unavailable", None),
    ("BadGatewayError", 502, "upstream_error", None),
    ("InternalServerError", 500, "server_error", None),
)


def map_litellm_error(
    module: ModuleType, exc: BaseException, secrets: Sequence[str]
) -> UpstreamError | None:
    """Our error for one of litellm's, or None when it is not litellm's (a bug: re-raised)."""
    if isinstance(exc, module.Timeout):
        return UpstreamTimeout("upstream timed out")
    for name, status, type_, code in _STATUS:
        if isinstance(exc, getattr(module, name)):
            return _status(exc, status, type_, code, secrets)
    if isinstance(exc, module.APIConnectionError):
        return UpstreamConnectError(f"upstream connection failed: {_text(exc, secrets)[:200]}")
    if isinstance(exc, module.APIError):  # any other status litellm carried
        carried = getattr(exc, "status_code", None)
        status = carried if isinstance(carried, int) and 400 <= carried < 600 else 502
        return _status(exc, status, "upstream_error", None, secrets)
    return None


def _status(
    exc: BaseException, status: int, type_: str, code: str | None, secrets: Sequence[str]
) -> UpstreamStatusError:
    """The error with an OpenAI-shaped body (relayed when it is the request's own fault) and
    the vendor's Retry-After when litellm kept its headers."""
    body = orjson.dumps(error_object(_text(exc, secrets), type_, code))
    return status_error(status, body, _headers(exc), secrets)


def _text(exc: BaseException, secrets: Sequence[str]) -> str:
    message = getattr(exc, "message", None)
    raw = message if isinstance(message, str) else str(exc)
    return redact(raw.encode(), secrets).decode(errors="replace")


def _headers(exc: BaseException) -> Mapping[str, str]:
    kept = getattr(exc, "litellm_response_headers", None)
    if kept is None:
        response = getattr(exc, "response", None)
        kept = getattr(response, "headers", None)
    if not isinstance(kept, Mapping):
        return {}
    return {str(k).lower(): str(v) for k, v in kept.items()}
