"""Sliding-window frame and bit rates for a camera's live state. Pure.

``add`` is called for every packet by the camera thread and is O(1); ``rates`` is
read once a second by whoever reports the state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW_S = 5.0


@dataclass
class RateMeter:
    window_s: float = WINDOW_S
    _samples: deque[tuple[float, int, int]] = field(default_factory=deque)
    _bytes: int = 0
    _frames: int = 0

    def add(self, now: float, size: int, is_video_frame: bool) -> None:
        self._samples.append((now, size, int(is_video_frame)))
        self._bytes += size
        self._frames += is_video_frame
        self._trim(now)

    def rates(self, now: float) -> tuple[float, float]:
        """(video frames per second, bits per second) over the window."""
        self._trim(now)
        if not self._samples:
            return 0.0, 0.0
        # at least a second: right after connecting, a GOP arrives in a burst
        span = max(now - self._samples[0][0], 1.0)
        return self._frames / span, 8 * self._bytes / span

    def _trim(self, now: float) -> None:
        samples = self._samples
        while samples and samples[0][0] < now - self.window_s:
            _, size, frame = samples.popleft()
            self._bytes -= size
            self._frames -= frame
