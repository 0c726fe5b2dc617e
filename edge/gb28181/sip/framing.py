"""SIP over TCP: split a byte stream into messages by Content-Length (RFC 3261 18.3). Pure."""

from __future__ import annotations

from edge.digits import parse_uint
from edge.gb28181.sip.message import (
    MAX_MESSAGE_BYTES, SipMessage, SipParseError, find_header, parse, parse_headers,
)

MAX_HEADER_BYTES = 16 * 1024


class SipStreamBuffer:
    """``feed()`` bytes as they arrive; ``next_message()`` returns whole messages or None.

    After a SipParseError the stream is out of step and the connection should be closed.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> SipMessage | None:
        # CRLF keep-alives (RFC 5626 4.4.1) between messages carry nothing
        while self._buf[:2] == b"\r\n":
            del self._buf[:2]
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise SipParseError(f"SIP headers longer than {MAX_HEADER_BYTES} bytes", 431)
            return None
        head = bytes(self._buf[:end])
        try:
            lines = head.decode("utf-8").split("\r\n")[1:]
        except UnicodeDecodeError:
            raise SipParseError("SIP headers are not UTF-8") from None
        length = find_header(parse_headers(lines), "Content-Length")
        # on a stream RFC 3261 18.3 requires it; absent means no body
        size = 0 if length is None else parse_uint(length, "Content-Length", SipParseError)
        total = end + 4 + size
        if total > MAX_MESSAGE_BYTES:
            raise SipParseError(f"SIP message of {total} bytes exceeds {MAX_MESSAGE_BYTES}", 413)
        if len(self._buf) < total:
            return None
        message = bytes(self._buf[:total])
        del self._buf[:total]
        return parse(message)
