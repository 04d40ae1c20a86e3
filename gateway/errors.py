"""One error tree for the whole gateway; every client-facing error renders in OpenAI's shape.

GatewayError                      status  type                      retryable
├── InvalidRequest                400     invalid_request_error     no
├── AuthenticationError           401     authentication_error      no
├── ModelNotAllowed               403     invalid_request_error     no
├── ModelNotFound                 404     invalid_request_error     no
├── NotFound (admin: key, team)   404     invalid_request_error     no
├── Conflict                      409     invalid_request_error     no
├── KeysUnavailable               503     service_unavailable       no
├── PayloadTooLarge               413     invalid_request_error     no
├── RateLimited                   429     rate_limit_exceeded       no (all candidates exhausted)
│   └── InsufficientQuota         429     insufficient_quota        no (a key's or team's budget)
├── NoDeploymentAvailable         503     service_unavailable       no
└── UpstreamError                 502     upstream_error            yes
    ├── UpstreamConnectError      502                               yes
    ├── UpstreamTimeout           504     timeout                   yes
    ├── UpstreamProtocolError     502     (malformed reply)         yes
    └── UpstreamStatusError       the upstream's status             yes for 408/429/5xx/401/403
"""

from __future__ import annotations

from typing import Any, ClassVar


def error_object(
    message: object, type_: object, code: object, param: object = None
) -> dict[str, Any]:
    """OpenAI's error body, the one shape every client-facing error takes."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class GatewayError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = None
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.attempts = 0  # upstream attempts made before this error (for the ledger)

    @property
    def status_code(self) -> int:
        return self.status

    @property
    def is_retryable(self) -> bool:
        return self.retryable

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        return error_object(self.message, self.type, self.code, self.param)


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class ModelNotAllowed(GatewayError):
    status = 403
    type = "invalid_request_error"
    code = "model_not_allowed"


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class NotFound(GatewayError):
    """An admin resource (a key, a team) that does not exist."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class Conflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class KeysUnavailable(GatewayError):
    status = 503
    type = "service_unavailable"
    code = "keys_unavailable"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(max(1, round(self.retry_after_s)))}


class InsufficientQuota(RateLimited):
    """A key's or a team's USD budget is spent (until the day or month turns)."""

    type = "insufficient_quota"
    code = "insufficient_quota"


class NoDeploymentAvailable(GatewayError):
    status = 503
    type = "service_unavailable"
    code = "no_deployment_available"


class UpstreamError(GatewayError):
    """A deployment failed to serve; the router may try the next candidate."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retryable = True


class UpstreamConnectError(UpstreamError):
    code = "upstream_connect_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"


class UpstreamProtocolError(UpstreamError):
    code = "upstream_bad_response"


# Statuses that say "this deployment, not this request": try another candidate.
RETRYABLE_UPSTREAM_STATUSES = frozenset({401, 403, 408, 409, 429, 500, 502, 503, 504, 529})


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an error status; its body is kept for pass-through."""

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int,
        upstream_body: bytes = b"",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status
        self.upstream_body = upstream_body
        self.retry_after_s = retry_after_s

    @property
    def is_retryable(self) -> bool:
        return self.upstream_status in RETRYABLE_UPSTREAM_STATUSES or self.upstream_status >= 500

    @property
    def status_code(self) -> int:
        # Request faults (400, 404, 413, 422) are the client's to see as they were.
        if not self.is_retryable:
            return self.upstream_status
        return 502
