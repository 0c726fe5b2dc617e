"""What a camera stream is, as the rest of edge sees it: its description and its frames.
Pure (no PyAV): the recorder process fills these in, the web and detector processes read
them off the stream tap.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    def from_dict(cls, raw: dict[str, object]) -> StreamInfo:
        return cls(str(raw["video"]), None if raw["audio"] is None else str(raw["audio"]),
                   bytes.fromhex(str(raw["extradata"])), int(raw["audio_rate"]),  # type: ignore[call-overload]
                   int(raw["audio_channels"]), int(raw["width"]), int(raw["height"]))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Frame:
    video: bool
    keyframe: bool
    data: bytes  # video: an Annex-B access unit; audio: one raw frame
    t: float  # wall-clock seconds (ingest/timeline.py)
