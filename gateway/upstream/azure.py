"""Adapter for Azure OpenAI (kind: azure), on the OpenAI path's fast client.

Azure differs from OpenAI in three places only: the URL names the deployment
(`{root}/openai/deployments/{deployment}/chat/completions?api-version=...`; each model's
`upstream:` is the deployment name), the key goes in an `api-key` header, and its rate-limit
headers give what remains but not the limit. The bodies, replies and streams are OpenAI's, so
the same dialects, usage reading and relay apply unchanged.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from gateway.core.operation import Operation
from gateway.upstream.base import Call
from gateway.upstream.openai_compat import PATHS, OpenAICompatUpstream
from gateway.upstream.transport import Response, Transport

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version
# Azure's Responses API lives on its version-less v1 surface, the deployment named in `model`.
_V1_OPERATIONS = frozenset({Operation.RESPONSES})
_REMAINING = ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens")


class AzureUpstream(OpenAICompatUpstream):
    def __init__(
        self,
        *,
        base_url: str,  # the resource's root: https://RESOURCE.openai.azure.com
        api_key: str | None,
        api_version: str | None,
        transport: Transport,
        connect_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        self._root = base_url
        self._version = api_version or DEFAULT_API_VERSION
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            transport=transport,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            auth_header="api-key",
            probe_url=f"{base_url}/openai/models?api-version={self._version}",
        )
        self._deployment_urls: dict[tuple[Operation, str], httpx.URL] = {}
        # The largest `remaining` seen per header: Azure sends no limit, and at a window's
        # start what remains is the limit (a lower bound of it before then).
        self._seen_limit: dict[str, float] = {}

    def _url(self, call: Call) -> httpx.URL | None:
        key = (call.operation, call.upstream_model)
        url = self._deployment_urls.get(key)
        if url is None:
            url = azure_url(self._root, call.operation, call.upstream_model, self._version)
            if url is not None:
                self._deployment_urls[key] = url
        return url

    def _hints(self, response: Response) -> dict[str, str]:
        hints = super()._hints(response)
        for name in _REMAINING:
            limit_name = name.replace("remaining", "limit")
            if name not in hints or limit_name in hints:
                continue
            try:
                remaining = float(hints[name])
            except ValueError:
                continue
            seen = max(self._seen_limit.get(name, 0.0), remaining)
            self._seen_limit[name] = seen
            if seen > 0:
                hints[limit_name] = f"{seen:g}"
        return hints


def azure_url(root: str, operation: Operation, deployment: str, version: str) -> httpx.URL | None:
    """The data-plane URL of one operation on one deployment (None: Azure does not serve it)."""
    if operation in _V1_OPERATIONS:
        return httpx.URL(f"{root}/openai/v1{PATHS[operation][0]}")
    if operation not in PATHS:
        return None
    name = quote(deployment, safe="")
    return httpx.URL(
        f"{root}/openai/deployments/{name}{PATHS[operation][0]}", params={"api-version": version}
    )
