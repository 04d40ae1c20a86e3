"""Scrub credentials out of what a vendor sends back before any of it reaches a client or a log.

A vendor's 400 may echo the request's headers (some proxies do); the key we sent must never
travel on. The exact keys are replaced, and so is anything shaped like a bearer token or an
API key, since a vendor may echo a key we did not send (another tenant's, a rotated one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = b"[redacted]"
_PATTERNS = (
    re.compile(rb"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(rb"(?i)((?:x-api-key|api-key|api_key|apikey)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{8,}"),
    re.compile(rb"()\b(?:sk|gw|pk|rk)-[A-Za-z0-9_\-]{16,}"),
    re.compile(rb"()\bsk-ant-[A-Za-z0-9_\-]{8,}"),
)


def redact(content: bytes, secrets: Iterable[str] = ()) -> bytes:
    for secret in secrets:
        if secret and len(secret) >= 4:
            content = content.replace(secret.encode(), MASK)
    for pattern in _PATTERNS:
        content = pattern.sub(lambda m: m.group(1) + MASK, content)
    return content
