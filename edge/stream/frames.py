"""The bounded queue every live consumer reads its frames from.

A consumer that falls behind loses frames, never the camera thread's time: its queue
drops everything until the next keyframe (so the picture resumes cleanly) and counts what
it dropped.
"""

from __future__ import annotations

import queue
from typing import Generic, TypeVar

QUEUE_FRAMES = 250  # about 10 s of video and audio

T = TypeVar("T")


class FrameQueue(Generic[T]):
    """Bounded, and ``offer`` never blocks: full means skip to the next keyframe."""

    def __init__(self, max_items: int = QUEUE_FRAMES) -> None:
        # SimpleQueue (C) costs less per frame than Queue; the bound is kept by offer()
        self._queue: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self.max_items = max_items
        self.skipping = False
        self.skipped = 0  # items dropped because the reader fell behind

    def offer(self, item: T, keyframe: bool) -> None:
        if self.skipping and not keyframe:
            self.skipped += 1
            return
        if self._queue.qsize() >= self.max_items:
            self.skipping = True
            self.skipped += 1
            return
        self.skipping = False
        self._queue.put_nowait(item)

    def force(self, item: T) -> None:
        """Past the bound: for the rare control items a reader must not miss."""
        self._queue.put_nowait(item)

    def get(self, timeout: float | None = None) -> T | None:
        """The next item; None once closed. Raises queue.Empty on a timeout."""
        return self._queue.get(timeout=timeout)

    def qsize(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._queue.put_nowait(None)
