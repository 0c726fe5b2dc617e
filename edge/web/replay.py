"""Recorded footage as fragmented MP4 for the browser (``edge _replay``, a child of the
web process, which has no PyAV): from the keyframe at or before ``start``, across segment
boundaries, to the end of the footage or until the browser goes away.

Output: one JSON line (codecs, video codec, the wall time of media time 0), then the
fMP4 bytes. Media time is wall time since that first frame, so a hole in the footage is
a hole in the media timeline (the player jumps over it) and the timeline under the video
reads true. A change of codec or size ends the stream (the player asks again from there).
"""

from __future__ import annotations

import json
from typing import BinaryIO

from edge.errors import ProtocolError, StorageError
from edge.ingest.media import StreamInfo
from edge.record.index import Index
from edge.record.reader import segment_frames
from edge.stream.fmp4 import Fmp4Writer

MAX_SPAN_S = 86_400.0  # one request reads at most a day of footage


def replay(index: Index, channel: str, start: float, out: BinaryIO) -> None:
    segments = [s for s in index.segments(channel, start, start + MAX_SPAN_S) if s.end_ts > start]
    if not segments:
        raise StorageError("该时刻之后没有录像 no footage from that moment on")
    writer: Fmp4Writer | None = None
    first: StreamInfo | None = None
    for seg in segments:
        for info, frame in segment_frames(index.absolute(seg), seg, start, start + MAX_SPAN_S):
            if writer is None:
                if not (frame.video and frame.keyframe):
                    continue
                writer, first = Fmp4Writer(info), info
                try:
                    init = writer.init(frame.data)
                except ProtocolError as exc:
                    raise StorageError(f"无法在浏览器播放 cannot play in a browser: {exc}") from None
                out.write(json.dumps({"codecs": writer.codecs, "video": info.video,
                                      "origin_ts": frame.t}).encode() + b"\n")
                out.write(init)
            elif (info.video, info.width, info.height, info.audio) != (
                    first.video, first.width, first.height, first.audio):  # type: ignore[union-attr]
                out.flush()
                return
            chunk = writer.frame(frame.video, frame.keyframe, frame.data, frame.t)
            if chunk:
                out.write(chunk)
        out.flush()
    if writer is None:
        raise StorageError("没有可播放的关键帧 no keyframe to start from")
