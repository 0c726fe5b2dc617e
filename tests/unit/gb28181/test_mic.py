"""A camera's microphone as the platform's G.711 in a talk (edge/gb28181/media/mic.py):
real AAC-LC from FFmpeg's encoder, as a camera sends it (raw frames, as the tap has them)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from edge.gb28181.media.audio import AudioError
from edge.gb28181.media.mic import MAX_ADTS_PAYLOAD, Microphone
from edge.ingest.media import StreamInfo
from edge.voice import g711
from tests.integration.conftest import peak_hz


def aac_frames(seconds: float, hz: float, rate: int = 16000, channels: int = 1) -> list[bytes]:
    """Raw AAC-LC frames (no ADTS) of a tone, as a camera's RTSP (RFC 3640) carries them."""
    layout = "mono" if channels == 1 else "stereo"
    ctx = av.CodecContext.create("aac", "w")
    ctx.sample_rate, ctx.layout, ctx.format, ctx.bit_rate = rate, layout, "fltp", 32_000
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    out: list[bytes] = []
    for start in range(0, tone.size - 1023, 1024):
        frame = av.AudioFrame.from_ndarray(np.repeat(tone[None, start:start + 1024], channels, 0),
                                           format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, start
        out += [bytes(p) for p in ctx.encode(frame)]
    return out + [bytes(p) for p in ctx.encode(None)]


def info(audio: str | None, rate: int = 8000, channels: int = 1) -> StreamInfo:
    return StreamInfo("h264", audio, b"", rate, channels)


@pytest.mark.parametrize("rate,channels", [(16000, 1), (48000, 2), (8000, 1)])
def test_an_aac_microphone_is_heard_as_g711_at_8_khz(rate: int, channels: int) -> None:
    mic = Microphone(info("aac", rate, channels), "pcma")
    out = b"".join(mic.payload(f) for f in aac_frames(2.0, 440, rate, channels))
    samples = g711.decode("pcma", out)
    assert abs(samples.size - 2 * 8000) <= 2048  # all of it (the encoder's priming aside)
    assert abs(peak_hz(samples[2000:]) - 440) < 10
    assert np.abs(samples[2000:]).max() > 5000  # the tone's level, not silence


def test_g711_passes_through_or_is_recoded() -> None:
    tone = (np.sin(2 * np.pi * 440 * np.arange(8000) / 8000) * 8000).astype(np.int16)
    alaw = g711.encode("pcma", tone)
    assert Microphone(info("pcm_alaw"), "pcma").payload(alaw) == alaw
    ulaw = Microphone(info("pcm_alaw"), "pcmu").payload(alaw)
    assert abs(peak_hz(g711.decode("pcmu", ulaw)) - 440) < 10


def test_what_cannot_become_g711_is_a_clear_error() -> None:
    for bad, said in ((info(None), "none"), (info("aac", 7350 + 1), "7351 Hz"),
                      (info("aac", 16000, 0), "0 channels")):
        with pytest.raises(AudioError, match=said):
            Microphone(bad, "pcma")
    mic = Microphone(info("aac", 16000), "pcma")
    with pytest.raises(AudioError, match="does not decode"):
        for junk in (b"\xff" * 50, bytes(range(256)) * 3, b"\x00"):
            mic.payload(junk)
    with pytest.raises(AudioError, match="at most"):
        mic.payload(b"\x00" * (MAX_ADTS_PAYLOAD + 1))
    # and it decodes a good frame after bad ones
    assert any(mic.payload(f) for f in aac_frames(0.5, 440, 16000))
