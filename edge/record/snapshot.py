"""A JPEG of a channel's newest recorded frame.

Reads the channel's newest segment (the one being written is fine: its fragments are
complete up to about a second ago), decodes from its last keyframe to its last frame
and encodes that frame as JPEG with PyAV's mjpeg encoder (no image library needed).
"""

from __future__ import annotations

import time
from fractions import Fraction

import av
import av.video

from edge.errors import StorageError
from edge.record.index import Index

RECENT_S = 3600.0  # a camera without footage in the last hour has no "current" frame
SEEK_BACK_S = 4.0  # past at least one GOP before the end


def snapshot_jpeg(index: Index, channel_id: str, quality: int = 5) -> tuple[bytes, float]:
    """(JPEG bytes, wall time of the frame)."""
    now = time.time()
    segments = index.segments(channel_id, now - RECENT_S, now + 60)
    if not segments:
        raise StorageError(f"通道最近一小时没有录像 no footage of {channel_id} in the last hour")
    for seg in reversed(segments):  # the newest may hold no complete fragment yet
        frame = _last_frame(str(index.absolute(seg)))
        if frame is not None:
            offset = float(frame.time or 0.0)
            return encode_jpeg(frame, quality), seg.start_ts + offset
    raise StorageError(f"无法解码录像 cannot decode recent footage of {channel_id}")


def _last_frame(path: str) -> av.video.VideoFrame | None:
    last = None
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            duration = float(container.duration or 0) / av.time_base
            if duration > SEEK_BACK_S and stream.time_base:
                container.seek(int((duration - SEEK_BACK_S) / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                last = frame
    except (av.FFmpegError, OSError, IndexError):
        pass  # a truncated tail: keep what decoded
    return last


def encode_jpeg(frame: av.video.VideoFrame, quality: int = 5) -> bytes:
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = frame.width, frame.height
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    codec.options = {"qmin": str(quality), "qmax": str(quality)}
    image = frame.reformat(format="yuvj420p")
    image.pts = 0
    packets = list(codec.encode(image)) + list(codec.encode(None))
    return b"".join(bytes(p) for p in packets)
