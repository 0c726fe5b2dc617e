"""Playback and download of recorded footage as PS over RTP (GB/T 28181 9.8, 9.9).

A thread per session in the recorder process: it reads the channel's segments for the
requested range from the index, starts at the keyframe at or before the start, converts
the MP4/MOV packets back to Annex-B, muxes PS and paces the sending by media time —
real time x Scale for Playback, x downloadspeed for Download. Gaps in the footage are
skipped (timestamps run on without them), above Scale 2 only keyframes go. PLAY, PAUSE,
Scale and seeks arrive as controls; at the end it reports "finished" (the SIP side
sends MediaStatus 121) and waits for the platform's BYE.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.gb28181.media.live import CLOCK, Emit, Sender, mux
from edge.record.index import Index, Segment
from edge.record.reader import segment_frames

logger = logging.getLogger(__name__)

KEYFRAMES_ONLY_ABOVE = 2.0
MAX_FRAME_GAP_S = 1.0  # wider than this between video frames: a hole in the footage
FRAME_S = 0.04
MAX_AHEAD_S = 0.5  # how far ahead of the pace a frame may go


@dataclass
class _Steer:
    paused: bool = False
    scale: float = 1.0
    seek_s: float | None = None


class PlaybackSession:
    def __init__(self, sid: str, channel: str, sender: Sender, data_dir: Path, kind: str,
                 start: float, end: float, speed: int, emit: Emit) -> None:
        self.sid, self.channel, self.sender = sid, channel, sender
        self.data_dir = data_dir
        self.kind, self.start_ts, self.end_ts = kind, start, end
        self.speed = float(speed) if kind == "Download" else 1.0
        self.emit = emit
        self.steer = _Steer()
        self.changed = threading.Condition()
        self.stopped = threading.Event()
        self.playing = False
        self.skipped = 0  # paced by us: nothing is skipped for a slow platform

    @property
    def bytes_sent(self) -> int:
        return self.sender.bytes_sent

    def start(self, _backlog: list[tuple[bytes, int, bool]]) -> None:
        self.playing = True
        threading.Thread(target=self._run, name=f"playback:{self.sid}", daemon=True).start()

    def control(self, cmd: dict[str, Any]) -> None:
        with self.changed:
            action = cmd.get("action")
            if action == "pause":
                self.steer.paused = True
            elif action == "play":
                self.steer.paused = False
            if cmd.get("scale"):
                self.steer.scale = float(cmd["scale"])
            if cmd.get("seek_s") is not None:
                self.steer.seek_s = float(cmd["seek_s"])
            self.changed.notify_all()

    def stop(self) -> None:
        self.stopped.set()
        with self.changed:
            self.changed.notify_all()
        self.sender.close()

    # -- the sending thread -------------------------------------------------------------

    def _run(self) -> None:
        started = time.monotonic()
        try:
            self.sender.connect()
            index = Index(self.data_dir, readonly=True)
            try:
                segments = index.segments(self.channel, self.start_ts, self.end_ts)
                paths = [(s, index.absolute(s)) for s in segments]
            finally:
                index.close()
            first = True
            position = self.start_ts
            while not self.stopped.is_set():
                sent = self._send_from(paths, position, started, first)
                first = False
                if sent is None:
                    break  # the end of the range
                position = sent  # a seek: start again from there
        except OSError as exc:
            if not self.stopped.is_set():
                self.emit({"media": {"id": self.sid, "event": "ended",
                                     "reason": f"{self.sender.transport} peer gone: {exc}"}})
            return
        except Exception as exc:  # this session ends; recording and the others go on
            logger.exception("media session=%s channel=%s playback failed", self.sid,
                             self.channel)
            if not self.stopped.is_set():
                self.emit({"media": {"id": self.sid, "event": "ended",
                                     "reason": f"internal error: {type(exc).__name__}: {exc}"}})
            return
        if not self.stopped.is_set():
            logger.info("media session=%s %s of %s finished (%d bytes)", self.sid, self.kind,
                        self.channel, self.bytes_sent)
            self.emit({"media": {"id": self.sid, "event": "finished"}})

    def _send_from(self, paths: list[tuple[Segment, Path]], position: float, started: float,
                   first: bool) -> float | None:
        """Send from ``position`` to the end; the new position if a seek interrupts."""
        pace_media = pace_wall = None  # media time and wall time at the last pace reset
        first_t: float | None = None
        last_video_t: float | None = None
        skipped = 0.0  # gaps in the footage, left out of the media time
        scale = self.steer.scale
        keyed = False  # nothing before the first keyframe: it carries the PSM
        for seg, path in paths:
            if seg.end_ts < position:
                continue
            for info, item in segment_frames(path, seg, position, self.end_ts):
                t = item.t
                with self.changed:
                    while self.steer.paused and not self.stopped.is_set() \
                            and self.steer.seek_s is None:
                        self.changed.wait()
                        pace_media = None  # resume pacing from here
                    if self.steer.seek_s is not None:
                        seek, self.steer.seek_s = self.steer.seek_s, None
                        return self.start_ts + seek
                    if self.steer.scale != scale:
                        scale, pace_media = self.steer.scale, None
                if self.stopped.is_set():
                    return None
                keyed = keyed or (item.video and item.keyframe)
                if not keyed:
                    continue
                if item.video:
                    if last_video_t is not None and t - last_video_t > MAX_FRAME_GAP_S:
                        skipped += t - last_video_t - FRAME_S  # skip the hole, not pad it
                    last_video_t = t
                first_t = t if first_t is None else first_t
                media_ts = t - first_t - skipped  # audio may run a little ahead: fine
                rate = self.speed * scale
                if scale > KEYFRAMES_ONLY_ABOVE and not (item.video and item.keyframe):
                    continue  # fast playback: keyframes only (a download sends everything)
                if pace_media is None:
                    pace_media, pace_wall = media_ts, time.monotonic()
                assert pace_wall is not None
                ahead = (media_ts - pace_media) / rate - (time.monotonic() - pace_wall)
                if ahead > MAX_AHEAD_S:
                    self.stopped.wait(ahead - MAX_AHEAD_S)
                ts = int((self.start_ts + max(0.0, media_ts)) * CLOCK)
                self.sender.send(mux(info, item.video, item.keyframe, item.data, ts), ts)
                if first:
                    first = False
                    self.emit({"media": {"id": self.sid, "event": "playing",
                                         "first_packet_ms": round(
                                             (time.monotonic() - started) * 1000)}})
        return None


