"""How health messages are encoded on the wire (documented in docs/uplink.md). Pure.

JSON without spaces, then, with ``[mqtt].compress`` (the default), zlib (RFC 1950) when
that is smaller. A reader tells them apart by the first byte: ``{`` is plain JSON, ``x``
(0x78) a zlib stream; MQTT 5 also says so: content type ``application/json`` and a user
property ``content-encoding: zlib``. ``decode`` reads both (``edge mqtt-test`` uses it).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from edge.errors import ProtocolError

CONTENT_TYPE = "application/json"
ENCODING_PROPERTY = ("content-encoding", "zlib")
MAX_DECODED_BYTES = 4 * 1024 * 1024  # a 16-camera full message is ~8 KB


class PayloadError(ProtocolError):
    """A health payload that is neither JSON nor zlib-compressed JSON."""


def encode(doc: Any, compress: bool) -> tuple[bytes, bool]:
    """The payload and whether it is compressed."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    if compress:
        packed = zlib.compress(text, 9)
        if len(packed) < len(text):
            return packed, True
    return text, False


def decode(payload: bytes) -> Any:
    if payload[:1] == b"x":
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(payload, MAX_DECODED_BYTES)
        except zlib.error as exc:
            raise PayloadError(f"bad zlib stream: {exc}") from None
        if inflater.unconsumed_tail:
            raise PayloadError(f"decompresses to more than {MAX_DECODED_BYTES} bytes")
        payload = text
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
