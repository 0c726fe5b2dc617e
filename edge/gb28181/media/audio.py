"""Audio out of the platform's RTP: raw G.711 (PT 8 PCMA, PT 0 PCMU, as ZLMediaKit sends
for WVP's broadcast) or G.711 wrapped in PS (the platforms that send audio like video).
Pure.

One source per session: the first SSRC seen is kept, packets of another are dropped
(a stale sender after a NAT move). Duplicates and late packets (sequence at or before the
last one played, modulo 2^16) are dropped rather than played out of order: for speech a
lost 20 ms is better than a repeated one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.errors import ProtocolError
from edge.gb28181.media.psdemux import PsDemuxer, PsError
from edge.gb28181.media.rtp import RtpError, parse_rtp

RAW_TYPES = {8: "pcma", 0: "pcmu"}
PS_AUDIO_TYPES = {0x90: "pcma", 0x91: "pcmu"}  # the PSM stream types (GB/T 28181 C.2)
MAX_PS_FRAME = 64 * 1024  # one audio PS frame is a few hundred bytes


class AudioError(ProtocolError):
    """Audio we cannot play: not RTP, not PS, or a codec other than G.711."""


@dataclass(frozen=True, slots=True)
class Chunk:
    codec: str  # "pcma" or "pcmu"
    payload: bytes
    timestamp: int  # RTP, 8 kHz for G.711


@dataclass
class AudioDepacketizer:
    ssrc: int | None = None
    packets: int = 0  # played
    dropped: int = 0  # foreign SSRC, duplicates, late
    _last_seq: int | None = None
    _ps: PsDemuxer = field(default_factory=PsDemuxer)
    _frame: bytearray = field(default_factory=bytearray)
    _frame_ts: int | None = None

    def feed(self, data: bytes) -> list[Chunk]:
        """The audio in one RTP packet (a PS frame completes on its marker or on the next
        timestamp). Raises AudioError for what cannot be audio we play."""
        try:
            packet = parse_rtp(data)
        except RtpError as exc:
            raise AudioError(str(exc)) from None
        if self.ssrc is None:
            self.ssrc = packet.ssrc
        if packet.ssrc != self.ssrc or not self._in_order(packet.seq):
            self.dropped += 1
            return []
        self.packets += 1
        if packet.payload_type in RAW_TYPES:
            return [Chunk(RAW_TYPES[packet.payload_type], packet.payload, packet.timestamp)]
        out: list[Chunk] = []
        if self._frame_ts is not None and packet.timestamp != self._frame_ts:
            out += self._flush()
        self._frame_ts = packet.timestamp
        self._frame += packet.payload
        if len(self._frame) > MAX_PS_FRAME:
            self._frame.clear()
            raise AudioError(f"PS frame of PT {packet.payload_type} exceeds {MAX_PS_FRAME} "
                             "bytes without a marker: not audio")
        if packet.marker:
            out += self._flush()
        return out

    def _in_order(self, seq: int) -> bool:
        last = self._last_seq
        if last is not None and not 0 < (seq - last) % 65536 < 32768:
            return False
        self._last_seq = seq
        return True

    def _flush(self) -> list[Chunk]:
        frame, ts = bytes(self._frame), self._frame_ts or 0
        self._frame.clear()
        self._frame_ts = None
        if not frame.startswith(b"\x00\x00\x01"):
            raise AudioError("RTP payload is neither G.711 (PT 8 or 0) nor a PS frame")
        try:
            pes = self._ps.parse(frame)
        except PsError as exc:
            raise AudioError(f"audio PS frame: {exc}") from None
        out = []
        for p in pes:
            if not 0xC0 <= p.stream_id <= 0xDF:
                continue  # video or private data: a speaker has no use for it
            stream_type = self._ps.stream_types.get(p.stream_id, 0x90)  # no PSM yet: G.711A
            codec = PS_AUDIO_TYPES.get(stream_type)
            if codec is None:
                raise AudioError(f"audio stream type 0x{stream_type:02X} is not G.711 "
                                 "(only G.711A/U can be played)")
            out.append(Chunk(codec, p.payload, ts))
        return out
