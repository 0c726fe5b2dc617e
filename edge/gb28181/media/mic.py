"""A camera's microphone as the G.711 a talk sends the platform: G.711 as it comes (A-law
and μ-law re-coded into each other where the platform asked for the other), AAC-LC (raw
frames off the live tap, as most Hikvision/Dahua cameras send) decoded and taken down to
8-kHz mono. PyAV's own decoder and resampler; no process of its own."""

from __future__ import annotations

import av
import numpy as np

from edge.gb28181.media.audio import AudioError
from edge.gb28181.media.ps import ADTS_RATES, adts_header
from edge.ingest.media import StreamInfo
from edge.voice import g711

G711 = {"pcm_alaw": "pcma", "pcm_mulaw": "pcmu"}
RATE = 8000
MAX_ADTS_PAYLOAD = (1 << 13) - 1 - 7  # ADTS's 13-bit frame length, its header included


class Microphone:
    """One camera's audio frames in, the platform's G.711 (``out``: "pcma" or "pcmu") out."""

    def __init__(self, info: StreamInfo, out: str) -> None:
        """Raises AudioError for audio we cannot turn into G.711 (none, or an AAC rate
        ADTS cannot say)."""
        self.out = out
        self.codec = G711.get(info.audio or "")
        self.rate, self.channels = info.audio_rate, info.audio_channels
        if self.codec is None and info.audio != "aac":
            raise AudioError(f"the camera's audio is {info.audio or 'none'}")
        if info.audio == "aac" and (self.rate not in ADTS_RATES or not 1 <= self.channels <= 7):
            raise AudioError(f"the camera's AAC at {self.rate} Hz, {self.channels} channels")
        self._aac = av.CodecContext.create("aac", "r") if self.codec is None else None
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE) \
            if self._aac is not None else None

    def payload(self, frame: bytes) -> bytes:
        """One of the camera's audio frames as G.711 bytes (AAC: b"" until the decoder has
        output). Raises AudioError for a frame that does not decode."""
        if self.codec == self.out:
            return frame
        if self.codec is not None:
            return g711.encode(self.out, g711.decode(self.codec, frame))
        assert self._aac is not None and self._resampler is not None
        if len(frame) > MAX_ADTS_PAYLOAD:
            raise AudioError(f"an AAC frame of {len(frame)} bytes (at most {MAX_ADTS_PAYLOAD})")
        try:  # raw frames off the tap: ADTS-framed, the decoder needs no extradata
            decoded = self._aac.decode(av.Packet(
                adts_header(len(frame), self.rate, self.channels) + frame))
            pcm = [f.to_ndarray().reshape(-1) for d in decoded
                   for f in self._resampler.resample(d)]
        except (av.FFmpegError, ValueError) as exc:
            raise AudioError(f"an AAC frame of {len(frame)} bytes does not decode: {exc}") \
                from None
        return g711.encode(self.out, np.concatenate(pcm)) if pcm else b""
