"""RTP packetising of PS frames, and RFC 4571 framing for TCP (the digest's 5.2). Pure.

All packets of one frame share its 90-kHz timestamp; the marker bit is set on the
frame's last packet; payloads are at most 1400 bytes; the sequence number wraps at
65536; the SSRC is the ``y=`` value of the SDP, verbatim.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from edge.errors import ProtocolError

MAX_PAYLOAD = 1400


@dataclass
class Packetizer:
    ssrc: int
    payload_type: int = 96
    seq: int = 0  # the next sequence number
    max_payload: int = MAX_PAYLOAD

    def packets(self, frame: bytes, timestamp: int) -> list[bytes]:
        chunks = [frame[i:i + self.max_payload]
                  for i in range(0, len(frame), self.max_payload)] or [b""]
        out = []
        ts = timestamp & 0xFFFFFFFF
        for n, chunk in enumerate(chunks):
            marker = 0x80 if n == len(chunks) - 1 else 0
            out.append(struct.pack(">BBHII", 0x80, marker | self.payload_type, self.seq, ts,
                                   self.ssrc) + chunk)
            self.seq = (self.seq + 1) & 0xFFFF
        return out


def frame_tcp(packet: bytes) -> bytes:
    """RFC 4571: a 2-byte big-endian length before each RTP packet."""
    return struct.pack(">H", len(packet)) + packet


class RtpError(ProtocolError):
    """Bytes that are not an RTP packet we can read."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12 or data[0] >> 6 != 2:
        raise RtpError("not an RTP version 2 packet")
    first, second, seq, ts, ssrc = struct.unpack(">BBHII", data[:12])
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(data) < offset + 4:
            raise RtpError("truncated RTP header extension")
        offset += 4 + 4 * struct.unpack(">H", data[offset + 2:offset + 4])[0]
    end = len(data) - (data[-1] if first & 0x20 and data else 0)
    if offset > end:
        raise RtpError("truncated RTP packet")
    return RtpPacket(second & 0x7F, bool(second & 0x80), seq, ts, ssrc, data[offset:end])


@dataclass
class TcpDeframer:
    """RFC 4571 stream -> RTP packets, fed any slices of the byte stream."""

    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while len(self._buf) >= 2:
            length = struct.unpack(">H", self._buf[:2])[0]
            if len(self._buf) < 2 + length:
                break
            out.append(bytes(self._buf[2:2 + length]))
            del self._buf[:2 + length]
        return out
