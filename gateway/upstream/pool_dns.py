"""Pool replicas from DNS: every address a name resolves to is a replica (a headless Service).

`replica_urls` is pure (the addresses come in); `resolve` asks the system resolver, off the
event loop, as every other name lookup of the gateway does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from gateway.config.runtime import DnsSource


def host_port(source: DnsSource) -> tuple[str, int]:
    parts = urlsplit(source.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "", port


def replica_urls(source: DnsSource, addresses: list[str]) -> list[tuple[str, str]]:
    """(OpenAI base URL, metrics URL) per address, in a stable order (sorted, deduplicated)."""
    parts = urlsplit(source.url)
    _, port = host_port(source)
    out = []
    for address in sorted(set(addresses), key=_sort_key):
        host = f"[{address}]" if ":" in address else address  # IPv6 in a URL is bracketed
        netloc = f"{host}:{port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        metrics = urlunsplit((parts.scheme, netloc, source.metrics_path, "", ""))
        out.append((url, metrics))
    return out


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` (A and AAAA); raises OSError when the name does not resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _sort_key(address: str) -> tuple[int, int | str]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (2, address)
    return (ip.version, int(ip))
