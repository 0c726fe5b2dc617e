"""A Program Stream reader (pack headers, PSM, PES) for tests and for PS input. Pure.

Gives each PES payload with its stream id and PTS/DTS; the PSM's stream types tell the
codecs. Tests cross-check it against PyAV's own ``mpeg`` demuxer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from edge.gb28181.media.ps import crc32_mpeg


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
                i += 1  # resynchronise on the next start code
                continue
            code = data[i + 3]
            if code == 0xBA:
                stuffing = data[i + 13] & 0x07 if i + 13 < len(data) else 0
                i += 14 + stuffing
                continue
            if i + 6 > len(data):
                break
            length = struct.unpack(">H", data[i + 4:i + 6])[0]
            body = data[i + 6:i + 6 + length]
            if code == 0xBC:
                self._psm(data[i:i + 6 + length])
            elif 0xC0 <= code <= 0xEF:
                out.append(_pes(code, body))
            i += 6 + length
        return out

    def _psm(self, packet: bytes) -> None:
        self.psm_crc_ok = crc32_mpeg(packet[:-4]) == struct.unpack(">I", packet[-4:])[0]
        info_len = struct.unpack(">H", packet[8:10])[0]
        at = 10 + info_len
        es_len = struct.unpack(">H", packet[at:at + 2])[0]
        at += 2
        end = at + es_len
        while at + 4 <= end:
            stream_type, stream_id, es_info = struct.unpack(">BBH", packet[at:at + 4])
            self.stream_types[stream_id] = stream_type
            at += 4 + es_info


def _pes(stream_id: int, body: bytes) -> Pes:
    flags, header_len = body[1], body[2]
    pts = dts = None
    if flags & 0x80:
        pts = _read_ts(body[3:8])
        dts = _read_ts(body[8:13]) if flags & 0x40 else pts
    return Pes(stream_id, pts, dts, body[3 + header_len:])


def _read_ts(b: bytes) -> int:
    return (((b[0] >> 1) & 0x07) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7
            | b[4] >> 1)
