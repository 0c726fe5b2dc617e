"""Fragmented MP4 for Media Source Extensions, from the hub's frames. Pure.

No transcoding: H.264 / H.265 access units go in as they came from the camera (Annex-B
turned into length-prefixed NAL units), AAC frames as they are. ``init_segment`` writes
``ftyp`` + ``moov`` (avcC or hvcC from the parameter sets, mp4a with its
AudioSpecificConfig); every frame then becomes one ``moof`` + ``mdat``, so a browser shows
it as soon as it arrives. ``codecs`` is the string for ``MediaSource.isTypeSupported``.
G.711 has no MP4 sample entry a browser plays: those tracks are left out (video only).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from edge.errors import ProtocolError
from edge.ingest.media import StreamInfo

VIDEO_TRACK, AUDIO_TRACK = 1, 2
VIDEO_TIMESCALE = 90_000
AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000]
_KEY_FLAGS = 0x02000000  # sample_depends_on = 2: an I picture
_DELTA_FLAGS = 0x01010000  # depends on others, not a sync sample
_DROP_NAL = {"h264": {9}, "hevc": {35}}  # access unit delimiters add nothing


class Fmp4Error(ProtocolError):
    """The stream cannot be written as fragmented MP4 (no parameter sets, odd codec)."""


def nal_units(annexb: bytes) -> list[bytes]:
    """The NAL units of an Annex-B byte string (3- or 4-byte start codes)."""
    out, i, n = [], 0, len(annexb)
    starts = []
    while True:
        i = annexb.find(b"\x00\x00\x01", i)
        if i < 0:
            break
        starts.append(i + 3)
        i += 3
    for k, start in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        unit = annexb[start:end]
        if k + 1 < len(starts) and unit.endswith(b"\x00"):
            unit = unit[:-1]  # the zero of the next 4-byte start code
        if unit:
            out.append(unit)
    return out


def _nal_type(codec: str, unit: bytes) -> int:
    return unit[0] & 0x1F if codec == "h264" else (unit[0] >> 1) & 0x3F


def _unescape(unit: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    return unit.replace(b"\x00\x00\x03", b"\x00\x00")


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


@dataclass(frozen=True)
class Track:
    codecs: str  # e.g. "avc1.64001f"
    entry: bytes  # the stsd sample entry


def _parameter_sets(info: StreamInfo, first_keyframe: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for unit in nal_units(info.extradata) + nal_units(first_keyframe):
        found.setdefault(_nal_type(info.video, unit), unit)
    return found


def _visual_entry(kind: bytes, width: int, height: int, config: bytes) -> bytes:
    return _box(kind, bytes(6), struct.pack(">H", 1), bytes(16),
                struct.pack(">HHIIIH", width, height, 0x00480000, 0x00480000, 0, 1),
                bytes(32), struct.pack(">Hh", 0x18, -1), config)


def video_track(info: StreamInfo, first_keyframe: bytes) -> Track:
    sets = _parameter_sets(info, first_keyframe)
    width, height = info.width or 1920, info.height or 1080
    if info.video == "h264":
        sps, pps = sets.get(7), sets.get(8)
        if not sps or not pps or len(sps) < 4:
            raise Fmp4Error("H.264 stream without SPS/PPS")
        avcc = (bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]) + struct.pack(">H", len(sps))
                + sps + b"\x01" + struct.pack(">H", len(pps)) + pps)
        return Track(f"avc1.{sps[1]:02x}{sps[2]:02x}{sps[3]:02x}",
                     _visual_entry(b"avc1", width, height, _box(b"avcC", avcc)))
    if info.video == "hevc":
        vps, sps, pps = sets.get(32), sets.get(33), sets.get(34)
        if not vps or not sps or not pps:
            raise Fmp4Error("H.265 stream without VPS/SPS/PPS")
        raw = _unescape(sps)
        if len(raw) < 15:
            raise Fmp4Error("H.265 SPS too short for its profile, tier and level")
        ptl = raw[3:15]  # after the NAL header and the vps id / sub-layers byte
        space, tier, profile = ptl[0] >> 6, (ptl[0] >> 5) & 1, ptl[0] & 0x1F
        compat = struct.unpack(">I", ptl[1:5])[0]
        constraints, level = ptl[5:11], ptl[11]
        arrays = b"".join(bytes([0x80 | t]) + struct.pack(">HH", 1, len(u)) + u
                          for t, u in ((32, vps), (33, sps), (34, pps)))
        hvcc = (bytes([1, ptl[0]]) + ptl[1:5] + constraints + bytes([level])
                + bytes([0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F, 3]) + arrays)
        reversed_compat = int(f"{compat:032b}"[::-1], 2)
        trimmed = constraints.rstrip(b"\x00")
        codecs = (f"hvc1.{'' if space == 0 else 'ABC'[space - 1]}{profile}."
                  f"{reversed_compat:X}.{'HL'[tier == 0]}{level}"
                  + "".join(f".{b:X}" for b in trimmed))
        return Track(codecs, _visual_entry(b"hvc1", width, height, _box(b"hvcC", hvcc)))
    raise Fmp4Error(f"video codec {info.video!r} cannot go into MP4 for a browser")


def audio_track(info: StreamInfo) -> Track | None:
    """AAC-LC only (G.711 is not played by browsers from MP4)."""
    if info.audio != "aac" or info.audio_rate not in AAC_RATES:
        return None
    asc = struct.pack(">H", (2 << 11) | (AAC_RATES.index(info.audio_rate) << 7)
                      | (info.audio_channels << 3))
    descriptor = bytes([0x05, len(asc)]) + asc
    decoder = bytes([0x04, 13 + len(descriptor), 0x40, 0x15]) + bytes(3) + bytes(8) + descriptor
    es = bytes([0x03, 3 + len(decoder) + 3]) + struct.pack(">HB", AUDIO_TRACK, 0) + decoder \
        + bytes([0x06, 1, 2])
    entry = _box(b"mp4a", bytes(6), struct.pack(">H", 1), bytes(8),
                 struct.pack(">HHHHI", info.audio_channels, 16, 0, 0, info.audio_rate << 16),
                 _full(b"esds", 0, 0, es))
    return Track("mp4a.40.2", entry)


def _trak(track_id: int, track: Track, timescale: int, info: StreamInfo, video: bool) -> bytes:
    width, height = (info.width or 1920, info.height or 1080) if video else (0, 0)
    tkhd = _full(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, track_id, 0, 0), bytes(8),
                 struct.pack(">hhhh", 0, 0, 0x0100 if not video else 0, 0),
                 struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000),
                 struct.pack(">II", width << 16, height << 16))
    mdhd = _full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))
    hdlr = _full(b"hdlr", 0, 0, bytes(4), b"vide" if video else b"soun", bytes(12),
                 b"edge\x00")
    media_header = _full(b"vmhd", 0, 1, bytes(8)) if video else _full(b"smhd", 0, 0, bytes(4))
    dinf = _box(b"dinf", _full(b"dref", 0, 0, struct.pack(">I", 1), _full(b"url ", 0, 1)))
    stbl = _box(b"stbl", _full(b"stsd", 0, 0, struct.pack(">I", 1), track.entry),
                _full(b"stts", 0, 0, bytes(4)), _full(b"stsc", 0, 0, bytes(4)),
                _full(b"stsz", 0, 0, bytes(8)), _full(b"stco", 0, 0, bytes(4)))
    return _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, _box(b"minf", media_header, dinf,
                                                               stbl)))


class Fmp4Writer:
    """One viewer's stream: ``init`` once (needs the first keyframe for the parameter
    sets), then ``frame`` for each frame, each returning the bytes to send."""

    def __init__(self, info: StreamInfo) -> None:
        self.info = info
        self.audio = audio_track(info)
        self.video: Track | None = None
        self.sequence = 0
        self.origin: float | None = None  # wall time of the first frame: media time 0
        self.last: dict[int, tuple[int, int]] = {}  # track -> (decode time, duration)

    @property
    def codecs(self) -> str:
        assert self.video is not None
        return self.video.codecs + (f",{self.audio.codecs}" if self.audio else "")

    def init(self, first_keyframe: bytes) -> bytes:
        self.video = video_track(self.info, first_keyframe)
        tracks = [_trak(VIDEO_TRACK, self.video, VIDEO_TIMESCALE, self.info, True)]
        trex = [_full(b"trex", 0, 0, struct.pack(">IIIII", VIDEO_TRACK, 1, 0, 0, 0))]
        if self.audio:
            tracks.append(_trak(AUDIO_TRACK, self.audio, self.info.audio_rate, self.info, False))
            trex.append(_full(b"trex", 0, 0, struct.pack(">IIIII", AUDIO_TRACK, 1, 0, 0, 0)))
        mvhd = _full(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, 0),
                     struct.pack(">IH", 0x10000, 0x0100), bytes(10),
                     struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000),
                     bytes(24), struct.pack(">I", 3))
        ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso6mp41")
        return ftyp + _box(b"moov", mvhd, *tracks, _box(b"mvex", *trex))

    def frame(self, video: bool, keyframe: bool, data: bytes, t: float) -> bytes:
        """One frame at wall time ``t``; b"" for a frame this stream does not carry."""
        if not video and self.audio is None:
            return b""
        if self.origin is None:
            self.origin = t
        if video:
            units = [u for u in nal_units(data)
                     if _nal_type(self.info.video, u) not in _DROP_NAL[self.info.video]]
            payload = b"".join(struct.pack(">I", len(u)) + u for u in units)
            track, scale, default = VIDEO_TRACK, VIDEO_TIMESCALE, VIDEO_TIMESCALE // 25
        else:
            payload, keyframe = data, True
            track, scale, default = AUDIO_TRACK, self.info.audio_rate, 1024
        decode = max(0, round((t - self.origin) * scale))
        before = self.last.get(track)
        if before is not None:
            decode = max(decode, before[0] + 1)  # never backwards
        duration = decode - before[0] if before else default
        self.last[track] = (decode, duration)
        self.sequence += 1
        flags = _KEY_FLAGS if keyframe else _DELTA_FLAGS
        # trun: data offset, duration, size, flags; data offset = moof size + 8
        trun_len, tfhd_len, tfdt_len = 12 + 4 + 12 + 4, 16, 20
        moof_len = 8 + 16 + 8 + tfhd_len + tfdt_len + trun_len
        traf = _box(b"traf", _full(b"tfhd", 0, 0x020000, struct.pack(">I", track)),
                    _full(b"tfdt", 1, 0, struct.pack(">Q", decode)),
                    _full(b"trun", 0, 0x000701, struct.pack(">IiIII", 1, moof_len + 8,
                                                             duration, len(payload), flags)))
        moof = _box(b"moof", _full(b"mfhd", 0, 0, struct.pack(">I", self.sequence)), traf)
        assert len(moof) == moof_len
        return moof + _box(b"mdat", payload)
