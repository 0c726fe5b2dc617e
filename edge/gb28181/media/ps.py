"""MPEG-2 Program Stream muxer for GB/T 28181 (the digest's section 5.1). Pure.

Every frame gets a pack header whose SCR is its DTS; every video keyframe also gets a
system header and a PSM declaring every elementary stream (ZLMediaKit drops audio a PSM
did not declare). A frame larger than a PES can carry is split into several PES packets,
each at most 0xFF80 payload bytes (what ZLM's own muxer does); only the first carries
PTS/DTS. H.264/H.265 payloads are Annex-B; audio is one G.711 block or ADTS AAC frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

STREAM_TYPES = {"h264": 0x1B, "hevc": 0x24, "pcm_alaw": 0x90, "pcm_mulaw": 0x91, "aac": 0x0F}
VIDEO_ID, AUDIO_ID = 0xE0, 0xC0
MAX_PES_PAYLOAD = 0xFF80
MUX_RATE = 6106  # x 50 bytes/s: a nominal figure, receivers ignore it
CLOCK = 90_000


@dataclass(frozen=True, slots=True)
class Streams:
    video: str  # "h264" or "hevc"
    audio: str | None = None  # "pcm_alaw", "pcm_mulaw", "aac" or None

    def __post_init__(self) -> None:
        for codec in (self.video, self.audio):
            if codec is not None and codec not in STREAM_TYPES:
                raise ValueError(f"codec {codec!r} cannot go into a GB/T 28181 PS stream")


def video_frame(streams: Streams, payload: bytes, pts: int, dts: int | None,
                keyframe: bool) -> bytes:
    """One video access unit as PS: pack header [+ system header + PSM] + PES packet(s).
    ``pts``/``dts`` in 90 kHz units (33 bits, wrapped here)."""
    dts = pts if dts is None else dts
    out = [pack_header(dts)]
    if keyframe:
        out += [system_header(streams), psm(streams)]
    out += pes_packets(VIDEO_ID, payload, pts, dts)
    return b"".join(out)


def audio_frame(payload: bytes, pts: int) -> bytes:
    """One audio frame in a pack of its own (its own SCR, so its RTP timestamp differs)."""
    return pack_header(pts) + b"".join(pes_packets(AUDIO_ID, payload, pts, pts))


def pack_header(scr: int) -> bytes:
    base = scr & 0x1FFFFFFFF
    ext = 0
    b = bytearray(10)
    b[0] = 0x44 | ((base >> 27) & 0x38) | ((base >> 28) & 0x03)
    b[1] = (base >> 20) & 0xFF
    b[2] = 0x04 | ((base >> 12) & 0xF8) | ((base >> 13) & 0x03)
    b[3] = (base >> 5) & 0xFF
    b[4] = 0x04 | ((base << 3) & 0xF8) | ((ext >> 7) & 0x03)
    b[5] = 0x01 | ((ext << 1) & 0xFE)
    b[6] = (MUX_RATE >> 14) & 0xFF
    b[7] = (MUX_RATE >> 6) & 0xFF
    b[8] = 0x03 | ((MUX_RATE << 2) & 0xFC)
    b[9] = 0xF8  # reserved bits, no stuffing
    return b"\x00\x00\x01\xBA" + bytes(b)


def system_header(streams: Streams) -> bytes:
    entries = struct.pack(">BH", VIDEO_ID, 0xE000 | 1024)  # buffer scale 1: 1024 x 1024 bytes
    if streams.audio:
        entries += struct.pack(">BH", AUDIO_ID, 0xC000 | 32)  # scale 0: 32 x 128 bytes
    rate_bound = MUX_RATE
    body = bytes([
        0x80 | ((rate_bound >> 15) & 0x7F), (rate_bound >> 7) & 0xFF,
        ((rate_bound << 1) & 0xFE) | 0x01,
        (1 if streams.audio else 0) << 2,  # audio_bound, fixed 0, CSPS 0
        0xE1,  # audio/video lock, marker, video_bound 1
        0xFF,  # packet rate restriction 0, reserved
    ]) + entries
    return b"\x00\x00\x01\xBB" + struct.pack(">H", len(body)) + body


def psm(streams: Streams) -> bytes:
    es = struct.pack(">BBH", STREAM_TYPES[streams.video], VIDEO_ID, 0)
    if streams.audio:
        es += struct.pack(">BBH", STREAM_TYPES[streams.audio], AUDIO_ID, 0)
    body = bytes([0xE0, 0xFF]) + struct.pack(">H", 0) + struct.pack(">H", len(es)) + es
    length = len(body) + 4  # + CRC
    head = b"\x00\x00\x01\xBC" + struct.pack(">H", length) + body
    return head + struct.pack(">I", crc32_mpeg(head))


def pes_packets(stream_id: int, payload: bytes, pts: int, dts: int) -> list[bytes]:
    out = []
    for i in range(0, max(len(payload), 1), MAX_PES_PAYLOAD):
        chunk = payload[i:i + MAX_PES_PAYLOAD]
        if i == 0:
            if dts != pts:
                header = bytes([0x80, 0xC0, 10]) + _timestamp(0x3, pts) + _timestamp(0x1, dts)
            else:
                header = bytes([0x80, 0x80, 5]) + _timestamp(0x2, pts)
        else:
            header = bytes([0x80, 0x00, 0])
        out.append(bytes([0, 0, 1, stream_id]) + struct.pack(">H", len(header) + len(chunk))
                   + header + chunk)
    return out


def _timestamp(prefix: int, ts: int) -> bytes:
    ts &= 0x1FFFFFFFF
    return bytes([
        (prefix << 4) | ((ts >> 29) & 0x0E) | 0x01,
        (ts >> 22) & 0xFF, ((ts >> 14) & 0xFE) | 0x01,
        (ts >> 7) & 0xFF, ((ts << 1) & 0xFE) | 0x01,
    ])


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc32_mpeg(data: bytes) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor),
    a byte at a time from a table: a hostile 64-KB PSM costs milliseconds, not 50."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


ADTS_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000]


def adts_header(payload_len: int, rate: int, channels: int = 1) -> bytes:
    """ISO/IEC 13818-7 ADTS header (AAC-LC, no CRC): AAC in PS (and GStreamer's aacparse)
    needs each raw frame framed."""
    length = payload_len + 7
    sf = ADTS_RATES.index(rate)
    return bytes([
        0xFF, 0xF1,
        (1 << 6) | (sf << 2) | (channels >> 2),
        ((channels & 3) << 6) | (length >> 11),
        (length >> 3) & 0xFF,
        ((length & 7) << 5) | 0x1F,
        0xFC,
    ])
