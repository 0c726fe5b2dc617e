"""The village's loudspeakers: an ALSA device each (a USB sound card into the amplifier),
written through alsa-lib by FFmpeg's ALSA output (PyAV), or a camera's own audio output
(ONVIF Profile T backchannel, edge/voice/backchannel.py), one source at a time.

PyAV (the ALSA output, edge/voice/alsa.py) is loaded only when a speaker first plays: the
daemon that holds the speakers stays free of it otherwise.

A source claims a speaker with a priority (the cascade's emergency broadcast above the
room's push-to-talk above a scheduled announcement). A higher claim takes the speaker
over, the lower one is told so and ends; an equal or lower one is refused — two voices
are never mixed into noise. A device that fails (unplugged mid-broadcast) ends the claim
with the reason; the next claim opens it again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config import SpeakerConfig, speaker_beside
from edge.errors import EdgeError
from edge.voice.evidence import Recording

if TYPE_CHECKING:
    import numpy as np

    from edge.voice.alsa import AlsaOutput
    from edge.voice.backchannel import BackchannelOutput

logger = logging.getLogger(__name__)

RATE = 8000  # G.711's; ALSA's plug layer (plughw:, default) converts for the card
PRIORITY_ANNOUNCEMENT, PRIORITY_ROOM, PRIORITY_CASCADE = 1, 2, 3


class SpeakerError(EdgeError):
    """The speaker cannot play for this claim (taken over, device failed)."""


def at_volume(samples: np.ndarray, volume: int) -> np.ndarray:
    """int16 ``samples`` at ``volume`` percent."""
    if volume == 100:
        return samples
    return (samples.astype("int32") * volume // 100).astype("int16")


@dataclass
class Claim:
    speaker_id: str
    source: str  # "gb28181:<platform id>", "web:<user>" ...
    priority: int
    ended: threading.Event = field(default_factory=threading.Event)
    reason: str = ""  # why it ended, for the log and the platform
    recording: str = ""  # the evidence file of what it said (data_dir relative), if kept
    evidence: Recording | None = field(default=None, repr=False)

    def end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()


class Speaker:
    def __init__(self, cfg: SpeakerConfig, record_to: Path | None = None,
                 camera_url: str = "") -> None:
        self.cfg = cfg
        self.camera_url = camera_url  # its camera's RTSP URL (a backchannel speaker's way in)
        self.record_to = record_to  # the data directory, when live broadcasts are recorded
        self.current: Claim | None = None
        self.samples = 0  # played since start, all claims (tests and health)
        self._output: AlsaOutput | BackchannelOutput | None = None
        self._lock = threading.Lock()

    def claim(self, source: str, priority: int) -> Claim | None:
        """A new claim, taking over a lower one; None when an equal or higher one holds it."""
        with self._lock:
            held = self.current
            if held is not None and not held.ended.is_set():
                if held.priority >= priority:
                    return None
                held.end(f"被更高优先级的广播接管 taken over by {source}")
                logger.warning("speaker=%s %s takes over from %s", self.cfg.id, source,
                               held.source)
            self.current = Claim(self.cfg.id, source, priority)
            return self.current

    def busy_with(self) -> str | None:
        held = self.current
        return held.source if held is not None and not held.ended.is_set() else None

    @property
    def idle(self) -> bool:
        """No claim, ended or not, holds the device."""
        return self.current is None

    def play(self, claim: Claim, samples: np.ndarray) -> None:
        """Blocks while the device plays (it paces the caller). Raises SpeakerError when
        the claim is no longer the speaker's or the device failed."""
        with self._lock:
            if claim is not self.current or claim.ended.is_set():
                raise SpeakerError(claim.reason or "speaker released")
            try:
                if self._output is None:
                    self._output = self._open()
                self._output.write(samples, self.cfg.volume)
            except SpeakerError as exc:
                self._close()
                claim.end(str(exc))
                raise
            self.samples += samples.size
            if self.record_to is not None and claim.priority >= PRIORITY_ROOM:  # live ones
                if claim.evidence is None:
                    claim.evidence = Recording(self.record_to, self.cfg.id, claim.source)
                    claim.recording = str(claim.evidence.rel)
                claim.evidence.write(samples)

    def _open(self) -> AlsaOutput | BackchannelOutput:
        if self.cfg.backchannel:
            from edge.voice.backchannel import BackchannelOutput

            return BackchannelOutput(self.camera_url, self.cfg.camera)
        from edge.voice.alsa import AlsaOutput

        return AlsaOutput(self.cfg.device)

    def release(self, claim: Claim, reason: str) -> None:
        claim.end(reason)
        with self._lock:
            if claim.evidence is not None:
                claim.evidence.close()
            if claim is self.current:
                self._close()  # the device is free before the speaker is
                self.current = None

    def _close(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None



class Speakers:
    """Every configured speaker, by GB/T 28181 ID."""

    def __init__(self, speakers: tuple[SpeakerConfig, ...], record_to: Path | None = None,
                 camera_urls: dict[str, str] | None = None) -> None:
        """``camera_urls``: the cameras' RTSP URLs, by ID (for backchannel speakers)."""
        urls = camera_urls or {}
        self.by_id = {s.id: Speaker(s, record_to, urls.get(s.camera, "")) for s in speakers
                      if s.enabled}

    def get(self, speaker_id: str) -> Speaker | None:
        return self.by_id.get(speaker_id)

    def beside(self, camera_id: str) -> Speaker | None:
        """Where a broadcast to a camera's own ID plays (config.speaker_beside)."""
        cfg = speaker_beside((s.cfg for s in self.by_id.values()), camera_id)
        return self.by_id[cfg.id] if cfg is not None else None
