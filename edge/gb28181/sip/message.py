"""SIP messages and their wire codec (RFC 3261 section 7). Pure: no sockets, no clock.

A message is a frozen value with ``parse()`` and ``__bytes__``. Header names keep the
spelling they arrived with; lookups are case-insensitive and accept compact forms
(``i`` for Call-ID, ``l`` for Content-Length, ...), which some platforms send.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeVar

from edge.digits import is_digits, parse_uint
from edge.errors import ProtocolError

Headers = tuple[tuple[str, str], ...]

MAX_MESSAGE_BYTES = 64 * 1024  # GB/T 28181 bodies are small; a catalog page is a few KB
MAX_HEADERS = 100
SIP_VERSION = "SIP/2.0"
# RFC 3261 7.3.3 compact forms
COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
           "v": "via"}


class SipParseError(ProtocolError):
    """The peer sent bytes that are not a SIP message we accept."""

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


def _canonical(name: str) -> str:
    low = name.strip().lower()
    return COMPACT.get(low, low)


def find_header(headers: Headers, name: str) -> str | None:
    """First value of ``name`` (case-insensitive, compact forms accepted), or None."""
    want = _canonical(name)
    return next((v for k, v in headers if _canonical(k) == want), None)


def find_headers(headers: Headers, name: str) -> list[str]:
    want = _canonical(name)
    return [v for k, v in headers if _canonical(k) == want]


@dataclass(frozen=True, slots=True)
class SipRequest:
    method: str
    uri: str
    headers: Headers
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return find_header(self.headers, name)

    def __bytes__(self) -> bytes:
        return _serialise(f"{self.method} {self.uri} {SIP_VERSION}", self.headers, self.body)


@dataclass(frozen=True, slots=True)
class SipResponse:
    status: int
    reason: str
    headers: Headers
    body: bytes = field(default=b"")

    def header(self, name: str) -> str | None:
        return find_header(self.headers, name)

    def __bytes__(self) -> bytes:
        return _serialise(f"{SIP_VERSION} {self.status} {self.reason}", self.headers, self.body)


SipMessage = SipRequest | SipResponse
_M = TypeVar("_M", SipRequest, SipResponse)


def with_header(msg: _M, name: str, value: str) -> _M:
    """``msg`` with ``name`` set to ``value`` (replacing any existing ones)."""
    want = _canonical(name)
    kept = tuple((k, v) for k, v in msg.headers if _canonical(k) != want)
    return replace(msg, headers=kept + ((name, value),))


def response_to(request: SipRequest, status: int, reason: str, to_tag: str = "") -> SipResponse:
    """A response echoing the request's Via, From, To, Call-ID and CSeq (RFC 3261 8.2.6.2)."""
    headers = [(k, v) for k, v in request.headers
               if _canonical(k) in ("via", "from", "to", "call-id", "cseq")]
    if to_tag:
        headers = [(k, f"{v};tag={to_tag}" if _canonical(k) == "to" and ";tag=" not in v else v)
                   for k, v in headers]
    return SipResponse(status, reason, tuple(headers))


def _serialise(start_line: str, headers: Headers, body: bytes) -> bytes:
    # Content-Length is always written from the body: a stale one breaks TCP framing
    lines = [start_line]
    lines += [f"{k}: {v}" for k, v in headers if _canonical(k) != "content-length"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def parse(data: bytes) -> SipMessage:
    """Parse one complete message (one UDP datagram). Raises SipParseError."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"SIP message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}", 413)
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("SIP message has no blank line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("SIP headers are not UTF-8") from None
    start, *lines = text.split("\r\n")
    headers = parse_headers(lines)
    length = find_header(headers, "Content-Length")
    if length is not None:
        n = parse_uint(length, "Content-Length", SipParseError)
        if n > len(body):
            raise SipParseError(f"Content-Length {n} exceeds body of {len(body)} bytes")
        body = body[:n]
    return _start_line(start, headers, body)


def parse_headers(lines: list[str]) -> Headers:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and headers:  # RFC 3261 7.3.1 line folding
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise SipParseError(f"malformed SIP header line {line[:60]!r}")
        headers.append((name.strip(), value.strip()))
        if len(headers) > MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} SIP headers")
    return tuple(headers)


def _start_line(start: str, headers: Headers, body: bytes) -> SipMessage:
    parts = start.split(" ", 2)
    if len(parts) == 3 and parts[0] == SIP_VERSION:
        if not (is_digits(parts[1]) and len(parts[1]) == 3):
            raise SipParseError(f"SIP status {parts[1]!r} is not a 3-digit code")
        return SipResponse(int(parts[1]), parts[2], headers, body)
    if (len(parts) == 3 and parts[2] == SIP_VERSION and parts[0].isascii()
            and parts[0].isalpha() and parts[0].isupper()):
        if not parts[1]:
            raise SipParseError("SIP request has an empty Request-URI")
        return SipRequest(parts[0], parts[1], headers, body)
    raise SipParseError(f"not a SIP start line: {start[:60]!r}")
