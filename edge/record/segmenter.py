"""Where to cut a camera's packet stream into segment files. Pure.

Segments start on a video keyframe (so each file decodes on its own) and are cut at
the first keyframe past a wall-clock boundary (every ``segment_s``, aligned, so files
of different channels line up). A hole in time longer than ``max_gap_s`` closes the
segment: the index must show the gap, not hide it inside a file.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

MAX_GAP_S = 2.0


class Decision(enum.Enum):
    SKIP = "skip"  # drop the packet (waiting for a keyframe)
    WRITE = "write"  # append to the open segment
    OPEN = "open"  # close the open segment if any, start a new one with this packet
    CLOSE = "close"  # close the open segment and drop the packet


@dataclass
class Segmenter:
    segment_s: float
    max_gap_s: float = MAX_GAP_S
    start: float | None = None
    cut_at: float = math.inf
    last_t: float | None = None

    def decide(self, t: float, is_video: bool, is_keyframe: bool) -> Decision:
        gap = self.last_t is not None and t - self.last_t > self.max_gap_s
        if is_video and is_keyframe and (self.start is None or gap or t >= self.cut_at):
            self._open(t)
            return Decision.OPEN
        if self.start is None:
            return Decision.SKIP
        if gap:
            self.reset()
            return Decision.CLOSE
        self.last_t = max(t, self.last_t or t)
        return Decision.WRITE

    def reset(self) -> None:
        """The stream ended (disconnect, stop): the next segment needs a keyframe."""
        self.start = None
        self.cut_at = math.inf
        self.last_t = None

    def _open(self, t: float) -> None:
        self.start = t
        self.last_t = t
        boundary = (math.floor(t / self.segment_s) + 1) * self.segment_s
        # never a sliver: a segment opened just before a boundary runs to the next one
        if boundary - t < self.segment_s / 2:
            boundary += self.segment_s
        self.cut_at = boundary
