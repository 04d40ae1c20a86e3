"""What an upstream failure means: the outcome it records, and the error the client gets."""

from __future__ import annotations

from gateway.config.runtime import Deployment
from gateway.core.estimators import OutcomeKind
from gateway.errors import (
    GatewayError,
    InsufficientQuota,
    NoDeploymentAvailable,
    RateLimited,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.state.quota import Denied
from gateway.state.tenant_limits import TenantDenied


def kind_of(exc: UpstreamError) -> OutcomeKind:
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamStatusError):
        if exc.upstream_status == 429:
            return "rate_limited"
        if not exc.is_retryable:
            return "rejected"
    return "error"


def tenant_refusal(denied: TenantDenied) -> GatewayError:
    """A key's or a team's limit reached: a budget is 429 insufficient_quota, a rate 429
    rate_limit_exceeded, both with Retry-After; budgets that cannot be checked (Redis down,
    fail-closed) 503."""
    who = denied.scope.replace(":", " ", 1)
    if denied.limit == "unavailable":
        return NoDeploymentAvailable("Budgets cannot be checked now (Redis is unreachable).")
    if denied.budget:
        period = "daily" if denied.limit == "usd_day" else "monthly"
        return InsufficientQuota(
            f"The {period} budget of {who} is spent.", retry_after_s=denied.retry_after_s
        )
    return RateLimited(
        f"The {denied.limit} limit of {who} is reached.", retry_after_s=denied.retry_after_s
    )


def exhausted(
    model: str, failures: list[tuple[Deployment, UpstreamError]], denials: list[Denied]
) -> GatewayError:
    if not failures:
        detail = "; ".join(f"{d.deployment_id}: {d.limit} limit reached" for d in denials)
        wait = min(d.retry_after_s for d in denials)
        return RateLimited(
            f"Every deployment for '{model}' is at its limit ({detail}).", retry_after_s=wait
        )
    detail = "; ".join(f"{dep.id}: {exc.message}" for dep, exc in failures)
    message = f"All {len(failures)} attempts for '{model}' failed ({detail})."
    errors = [exc for _, exc in failures]
    if all(isinstance(e, UpstreamStatusError) and e.upstream_status == 429 for e in errors):
        waits = [
            e.retry_after_s
            for e in errors
            if isinstance(e, UpstreamStatusError) and e.retry_after_s
        ]
        exhausted: GatewayError = RateLimited(message, retry_after_s=min(waits, default=1.0))
    elif isinstance(errors[-1], UpstreamTimeout):
        exhausted = UpstreamTimeout(message)
    else:
        exhausted = UpstreamError(message)
    exhausted.attempts = len(failures)
    return exhausted
