"""The RTSP a camera's audio output needs (ONVIF Profile T backchannel, ONVIF Streaming
Spec §5.3): requests with ``Require: www.onvif.org/ver20/backchannel``, the camera's
responses and interleaved frames off one TCP stream, and the SDP track we send to (the
audio ``m=`` line marked ``a=sendonly``: the camera receives). Pure: no sockets.

Bad input raises ``RtspError`` (a ProtocolError) naming what was wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from edge.digits import is_digits
from edge.errors import ProtocolError

BACKCHANNEL = "www.onvif.org/ver20/backchannel"
MAX_HEAD = 16 * 1024  # a response's status line and headers
MAX_BODY = 64 * 1024  # an SDP of a camera with many tracks fits
CODECS = {"PCMU": "pcmu", "PCMA": "pcma"}  # what we send: G.711 at 8 kHz
STATIC_PT = {0: "PCMU", 8: "PCMA"}


class RtspError(ProtocolError):
    """A camera's RTSP we cannot use."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True, slots=True)
class Track:
    """Where and how to send audio to the camera."""

    control: str  # the SETUP URL
    payload_type: int
    codec: str  # "pcmu" or "pcma"


def request(method: str, url: str, cseq: int, headers: dict[str, str] | None = None) -> bytes:
    """One request, with the backchannel requirement and no body."""
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", f"Require: {BACKCHANNEL}",
             "User-Agent: edge"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if any(c in line for line in lines for c in "\r\n\0"):
        raise RtspError(f"{method}: a header holds a line break")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


@dataclass
class Reader:
    """A camera's TCP stream: responses, and interleaved frames (``$``, channel, length)
    that it sends between them (RTCP of our session, or media we ignore)."""

    buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Response | tuple[int, bytes]]:
        self.buf += data
        out: list[Response | tuple[int, bytes]] = []
        while self.buf:
            if self.buf[0] == 0x24:  # "$": an interleaved frame
                if len(self.buf) < 4:
                    break
                length = int.from_bytes(self.buf[2:4], "big")
                if len(self.buf) < 4 + length:
                    break
                out.append((self.buf[1], bytes(self.buf[4:4 + length])))
                del self.buf[:4 + length]
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise RtspError(f"a response head longer than {MAX_HEAD} bytes")
                break
            head = bytes(self.buf[:end]).decode("utf-8", "replace")
            response = _head(head)
            length_text = response.header("content-length") or "0"
            if not is_digits(length_text) or int(length_text) > MAX_BODY:
                raise RtspError(f"Content-Length {length_text[:20]!r} (at most {MAX_BODY})")
            length = int(length_text)
            if len(self.buf) < end + 4 + length:
                break
            out.append(Response(response.status, response.reason, response.headers,
                                bytes(self.buf[end + 4:end + 4 + length])))
            del self.buf[:end + 4 + length]
        return out


def _head(text: str) -> Response:
    status_line, *lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/") or not is_digits(parts[1]) \
            or len(parts[1]) != 3:
        raise RtspError(f"not an RTSP response: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise RtspError(f"a header line without a colon: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)


def backchannel_track(sdp: str, base: str) -> Track:
    """The camera's audio output in its DESCRIBE answer: the audio ``m=`` line with
    ``a=sendonly`` (ONVIF: sendonly for the client), in G.711 at 8 kHz."""
    media: list[list[str]] = []
    session_control = ""
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
        elif line.startswith("a=control:"):
            session_control = line[10:]
    for lines in media:
        kind, *_rest = lines[0][2:].split(" ")
        if kind != "audio" or "a=sendonly" not in lines:
            continue
        track = _track(lines, _join(base, session_control) if session_control
                       not in ("", "*") else base)
        if track is not None:
            return track
    raise RtspError("the camera offers no audio output (no sendonly G.711 audio track: "
                    "not ONVIF Profile T, or its audio output is off)")


def _track(lines: list[str], base: str) -> Track | None:
    fields = lines[0].split(" ")
    if len(fields) < 4:
        raise RtspError(f"a malformed media line: {lines[0][:80]!r}")
    names: dict[int, str] = {}
    for line in lines:
        found = re.fullmatch(r"a=rtpmap:([0-9]{1,3}) ([A-Za-z0-9-]+)/([0-9]+)(?:/[0-9]+)?",
                             line)
        if found and found.group(3) == "8000":
            names[int(found.group(1))] = found.group(2).upper()
    for pt_text in fields[3:]:
        if not is_digits(pt_text) or len(pt_text) > 3:
            continue
        pt = int(pt_text)
        name = names.get(pt) or STATIC_PT.get(pt, "")
        if name in CODECS:
            control = next((line[10:] for line in lines if line.startswith("a=control:")), "")
            if not control:
                raise RtspError("the audio output track has no a=control")
            if not base.endswith("/"):
                base += "/"
            return Track(_join(base, control), pt, CODECS[name])
    return None


def _join(base: str, reference: str) -> str:
    try:
        return urljoin(base, reference)
    except ValueError as exc:  # a malformed IPv6 host in the camera's a=control
        raise RtspError(f"a=control {reference[:80]!r}: {exc}") from None


def session_id(response: Response) -> str:
    """The ``Session`` header's ID (its ``;timeout=`` dropped)."""
    value = response.header("session").split(";")[0].strip()
    if not value or len(value) > 256 or any(c.isspace() for c in value):
        raise RtspError(f"SETUP answered without a usable Session: {value[:40]!r}")
    return value


def interleaved(channel: int, packet: bytes) -> bytes:
    """RTP over the RTSP connection (RFC 2326 §10.12)."""
    if len(packet) > 0xFFFF:
        raise RtspError(f"an interleaved packet of {len(packet)} bytes")
    return bytes([0x24, channel]) + len(packet).to_bytes(2, "big") + packet
