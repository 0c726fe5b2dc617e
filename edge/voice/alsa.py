"""A loudspeaker's sound card: 16-bit mono PCM at 8 kHz to one ALSA PCM through FFmpeg's
ALSA output (PyAV; its wheel carries alsa-lib, which reads the system's ALSA configuration).
Playback starts at the first frame (alsa-lib's default start threshold); the device paces
the writer."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import av
import numpy as np

from edge.voice.speaker import RATE, SpeakerError, at_volume

logger = logging.getLogger(__name__)

# PyAV's wheels carry their own alsa-lib, which looks for its configuration where the wheel
# was built (the aarch64 one: /tmp/vendor/share/alsa; found by booting the image): point it
# at the system's (Debian's libasound2-data), unless the caller chose another
SYSTEM_ALSA = Path("/usr/share/alsa")
if (SYSTEM_ALSA / "alsa.conf").exists():
    os.environ.setdefault("ALSA_CONFIG_DIR", str(SYSTEM_ALSA))


class AlsaOutput:
    """16-bit mono PCM at 8 kHz to one ALSA PCM, paced by the device itself."""

    def __init__(self, device: str) -> None:
        try:
            self.container = av.open(device, "w", format="alsa")
        except (av.FFmpegError, OSError) as exc:
            raise SpeakerError(f"无法打开音频设备 cannot open ALSA device {device!r}: {exc}") \
                from None
        self.device = device
        self.stream = self.container.add_stream("pcm_s16le", rate=RATE, layout="mono")
        self.pts = 0

    def write(self, samples: np.ndarray, volume: int = 100) -> None:
        """``samples`` (int16) at ``volume`` percent."""
        samples = at_volume(samples, volume)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.rate, frame.pts = RATE, self.pts
        self.pts += samples.size
        try:
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise SpeakerError(f"音频设备写入失败 ALSA device {self.device!r} failed: {exc}") \
                from None

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            self.container.close()
        except (av.FFmpegError, OSError) as exc:
            logger.warning("speaker device=%s close: %s", self.device, exc)
