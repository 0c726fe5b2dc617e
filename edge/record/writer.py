"""Write one segment: stream copy into fragmented MP4/MOV, flushed to disk every second.

Power-cut budget (~2 s per channel): the muxer emits a ``moof``+``mdat`` fragment at
least every second and flushes it to the kernel at once (``flush_packets``); we
``fdatasync`` the file every ``fsync_interval_s`` through our own descriptor (sync
works on the inode, whoever wrote the pages). Nothing is staged in RAM or tmpfs.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.packet
import av.stream

FRAGMENT_US = 1_000_000
MUX_OPTIONS = {
    "movflags": "+empty_moov+default_base_moof",
    "frag_duration": str(FRAGMENT_US),
    "flush_packets": "1",
}


class SegmentWriter:
    def __init__(
        self, path: Path, start_ts: float, templates: list[av.stream.Stream],
        fsync_interval_s: float,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.start_ts = start_ts
        self.end_ts = start_ts
        self.fsync_interval_s = fsync_interval_s
        self.container = av.open(str(path), "w", format=path.suffix[1:], options=MUX_OPTIONS)
        self.out = {s.index: self.container.add_stream_from_template(s) for s in templates}
        self.rates = {s.index: 1 / float(s.time_base or Fraction(1, 90_000)) for s in templates}
        self.last_dts: dict[int, int] = {}
        self.sync_fd: int | None = None  # the muxer creates the file at its first packet
        self.last_sync = time.monotonic()

    def write(self, packet: av.packet.Packet, t: float) -> None:
        """Mux ``packet`` whose decode time is wall-clock ``t``."""
        src = packet.stream_index
        out = self.out.get(src)
        if out is None:
            return
        # float time bases: Fraction arithmetic per packet costs more than the mux
        rate = self.rates[src]
        dts = max(0, round((t - self.start_ts) * rate))
        last = self.last_dts.get(src)
        if last is not None and dts <= last:
            dts = last + 1  # muxers require strictly increasing DTS per stream
        delay = 0
        if packet.pts is not None and packet.dts is not None:
            delay = max(0, packet.pts - packet.dts)  # keep B-frame reordering if any
        packet.dts, packet.pts = dts, dts + delay
        packet.stream = out
        self.container.mux(packet)
        self.last_dts[src] = dts
        self.end_ts = max(self.end_ts, t + (packet.duration or 0) / rate)

    def sync(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_sync >= self.fsync_interval_s:
            if self.sync_fd is None:
                self.sync_fd = os.open(self.path, os.O_RDONLY)
            os.fdatasync(self.sync_fd)
            self.last_sync = now

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def close(self) -> int:
        """Finish the file (trailer, fsync); return its size in bytes."""
        try:
            self.container.close()
            self.sync(force=True)
            return self.size
        finally:
            self._close_fd()

    def abandon(self) -> None:
        """Drop the muxer after a write error; the file is repaired like after a crash."""
        try:
            self.container.close()
        except (av.FFmpegError, OSError):
            pass
        self._close_fd()

    def _close_fd(self) -> None:
        if self.sync_fd is not None:
            os.close(self.sync_fd)
            self.sync_fd = None
