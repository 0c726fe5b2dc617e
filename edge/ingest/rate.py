"""Sliding-window frame and bit rates for a camera's live state. Pure."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW_S = 5.0


@dataclass
class RateMeter:
    window_s: float = WINDOW_S
    _samples: deque[tuple[float, int, bool]] = field(default_factory=deque)

    def add(self, now: float, size: int, is_video_frame: bool) -> None:
        self._samples.append((now, size, is_video_frame))
        self._trim(now)

    def rates(self, now: float) -> tuple[float, float]:
        """(video frames per second, bits per second) over the window."""
        self._trim(now)
        if not self._samples:
            return 0.0, 0.0
        # at least a second: right after connecting, a GOP arrives in a burst
        span = max(now - self._samples[0][0], 1.0)
        frames = sum(1 for s in self._samples if s[2])
        bits = 8 * sum(s[1] for s in self._samples)
        return frames / span, bits / span

    def _trim(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()
