"""A camera's live state, shared with the rest of the appliance as plain JSON. Pure."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edge.ingest.rate import RateMeter

HOUR_S = 3600.0


@dataclass
class CameraState:
    id: str
    online: bool = False
    recording: bool = False
    meter: RateMeter = field(default_factory=RateMeter)
    last_packet_ts: float | None = None
    last_error: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    connected_since: float | None = None
    reconnect_times: deque[float] = field(default_factory=deque)

    def note_reconnect(self, now: float) -> None:
        self.reconnect_times.append(now)
        self.trim(now)

    def trim(self, now: float) -> None:
        while self.reconnect_times and self.reconnect_times[0] < now - HOUR_S:
            self.reconnect_times.popleft()

    def to_dict(self, now: float) -> dict[str, object]:
        self.trim(now)
        fps, bps = self.meter.rates(now) if self.online else (0.0, 0.0)
        return {
            "id": self.id, "online": self.online, "recording": self.recording,
            "fps": round(fps, 2), "bitrate_bps": round(bps),
            "last_packet_ts": self.last_packet_ts, "last_error": self.last_error,
            "video_codec": self.video_codec, "audio_codec": self.audio_codec,
            "width": self.width, "height": self.height,
            "connected_since": self.connected_since,
            "reconnects_last_hour": len(self.reconnect_times),
        }
