"""AWS's binary event-stream framing (application/vnd.amazon.eventstream), as Bedrock's
ConverseStream sends it: prelude (total length, headers length, CRC), string headers, the JSON
payload, and a CRC of the whole message."""

from __future__ import annotations

import binascii
import struct
from typing import Any

import orjson

_STRING = 7  # header value type: string


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + struct.pack("!BH", _STRING, len(raw_value))
        + raw_value
    )


def message(event_type: str, payload: dict[str, Any], message_type: str = "event") -> bytes:
    headers = (
        _header(":event-type", event_type)
        + _header(":content-type", "application/json")
        + _header(":message-type", message_type)
    )
    body = orjson.dumps(payload)
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    head = prelude + headers + body
    return head + struct.pack("!I", binascii.crc32(head) & 0xFFFFFFFF)


def exception(error_type: str, text: str) -> bytes:
    """An error inside the stream (e.g. throttlingException), as Bedrock sends it."""
    headers = (
        _header(":exception-type", error_type)
        + _header(":content-type", "application/json")
        + _header(":message-type", "exception")
    )
    body = orjson.dumps({"message": text})
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    head = prelude + headers + body
    return head + struct.pack("!I", binascii.crc32(head) & 0xFFFFFFFF)
