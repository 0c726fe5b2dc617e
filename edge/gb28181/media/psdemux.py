"""A Program Stream reader (pack headers, PSM, PES) for tests and for PS input. Pure.

Gives each PES payload with its stream id and PTS/DTS; the PSM's stream types tell the
codecs. Tests cross-check it against PyAV's own ``mpeg`` demuxer. Every length field is
checked against the bytes really there before it is used: a truncated or hostile stream
is a PsError naming the packet, never an IndexError or struct.error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from edge.errors import ProtocolError
from edge.gb28181.media.ps import crc32_mpeg

PACK_HEADER_BYTES = 14


class PsError(ProtocolError):
    """Bytes that are not a Program Stream we can read."""


@dataclass(frozen=True, slots=True)
class Pes:
    stream_id: int
    pts: int | None
    dts: int | None
    payload: bytes


@dataclass
class PsDemuxer:
    stream_types: dict[int, int] = field(default_factory=dict)  # stream id -> PSM type
    psm_crc_ok: bool | None = None

    def parse(self, data: bytes) -> list[Pes]:
        """Every PES of a whole PS byte string (e.g. one RTP-reassembled frame)."""
        out: list[Pes] = []
        i = 0
        while i + 4 <= len(data):
            if data[i:i + 3] != b"\x00\x00\x01":
                i = data.find(b"\x00\x00\x01", i + 1)  # resynchronise on the next start code
                if i < 0:
                    break
                continue
            code = data[i + 3]
            if code == 0xBA:
                if i + PACK_HEADER_BYTES > len(data):
                    raise PsError(f"pack header at byte {i} is truncated")
                i += PACK_HEADER_BYTES + (data[i + 13] & 0x07)
                continue
            if i + 6 > len(data):
                raise PsError(f"packet 0x{code:02X} at byte {i} has no length")
            (length,) = struct.unpack(">H", data[i + 4:i + 6])
            if i + 6 + length > len(data):
                raise PsError(f"packet 0x{code:02X} at byte {i} needs {length} bytes, "
                              f"{len(data) - i - 6} left")
            body = data[i + 6:i + 6 + length]
            if code == 0xBC:
                self._psm(data[i:i + 6 + length])
            elif 0xC0 <= code <= 0xEF:
                out.append(_pes(code, body))
            i += 6 + length
        return out

    def _psm(self, packet: bytes) -> None:
        if len(packet) < 16:  # header, info length, ES map length, CRC
            raise PsError(f"PSM of {len(packet)} bytes is truncated")
        self.psm_crc_ok = crc32_mpeg(packet[:-4]) == struct.unpack(">I", packet[-4:])[0]
        (info_len,) = struct.unpack(">H", packet[8:10])
        at = 10 + info_len
        if at + 2 > len(packet) - 4:
            raise PsError(f"PSM info length {info_len} runs past the packet")
        (es_len,) = struct.unpack(">H", packet[at:at + 2])
        at += 2
        end = at + es_len
        if end > len(packet) - 4:
            raise PsError(f"PSM elementary stream map length {es_len} runs past the packet")
        while at + 4 <= end:
            stream_type, stream_id, es_info = struct.unpack(">BBH", packet[at:at + 4])
            self.stream_types[stream_id] = stream_type
            at += 4 + es_info


def _pes(stream_id: int, body: bytes) -> Pes:
    if len(body) < 3:
        raise PsError(f"PES 0x{stream_id:02X} of {len(body)} bytes has no header")
    flags, header_len = body[1], body[2]
    if 3 + header_len > len(body):
        raise PsError(f"PES 0x{stream_id:02X} header length {header_len} runs past the packet")
    pts = dts = None
    if flags & 0x80:
        if header_len < (10 if flags & 0x40 else 5):
            raise PsError(f"PES 0x{stream_id:02X} header of {header_len} bytes is too short "
                          "for its PTS/DTS")
        pts = _read_ts(body[3:8])
        dts = _read_ts(body[8:13]) if flags & 0x40 else pts
    return Pes(stream_id, pts, dts, body[3 + header_len:])


def _read_ts(b: bytes) -> int:
    return (((b[0] >> 1) & 0x07) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7
            | b[4] >> 1)
