"""What a camera stream is, as the rest of edge sees it: its description and its frames.
Pure (no PyAV): the recorder process fills these in, the web and detector processes read
them off the stream tap.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.errors import ProtocolError

KEPT_AUDIO = frozenset({"pcm_alaw", "pcm_mulaw", "aac"})  # recorded and relayed


@dataclass(frozen=True)
class StreamInfo:
    video: str  # "h264" or "hevc"
    audio: str | None  # one of KEPT_AUDIO, or None
    extradata: bytes  # Annex-B parameter sets from the camera's SDP
    audio_rate: int = 8000
    audio_channels: int = 1
    width: int = 0
    height: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"video": self.video, "audio": self.audio, "extradata": self.extradata.hex(),
                "audio_rate": self.audio_rate, "audio_channels": self.audio_channels,
                "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, raw: object) -> StreamInfo:
        """What ``as_dict`` wrote (read off the stream tap). Raises ProtocolError."""
        bad = ProtocolError(f"not a stream description: {str(raw)[:100]}")
        if not isinstance(raw, dict):
            raise bad
        numbers = [raw.get(k) for k in ("audio_rate", "audio_channels", "width", "height")]
        video, audio, extradata = raw.get("video"), raw.get("audio"), raw.get("extradata")
        if not (all(type(n) is int and 0 <= n < 1 << 20 for n in numbers)
                and isinstance(video, str) and audio in (None, *KEPT_AUDIO)
                and isinstance(extradata, str)):
            raise bad
        try:
            params = bytes.fromhex(extradata)
        except ValueError:
            raise bad from None
        return cls(video, audio, params, *numbers)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Frame:
    video: bool
    keyframe: bool
    data: bytes  # video: an Annex-B access unit; audio: one raw frame
    t: float  # wall-clock seconds (ingest/timeline.py)
