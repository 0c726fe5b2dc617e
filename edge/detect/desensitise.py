"""Desensitised export (脱敏后调取): every face covered with noise (edge/detect/faces.py), optionally a
watermark burned in (operator, node, the frame's local time), re-encoded with libx264.

Frames are decoded from the keyframe at or before the start across segment boundaries;
faces are found with BlazeFace in every frame (edge/detect/faces.py). Audio is left out:
a voice identifies a person too, and what leaves the room is the picture.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import cv2
import numpy as np

from edge.detect.faces import FaceDetector, blur_faces
from edge.errors import StorageError
from edge.record.export import ExportResult
from edge.record.index import Index
from edge.timefmt import format_time

CLOCK = Fraction(1, 90_000)


def export_reencoded(index: Index, channel: str, start: float, end: float, out_path: Path,
                     *, blur: bool, watermark: str | None, tz: str,
                     progress: Callable[[float], None] = lambda _f: None) -> ExportResult:
    segments = index.segments(channel, start, end)  # the open one too (edge/record/export.py)
    if not segments:
        raise StorageError("该时段没有录像 no footage in that time range")
    detector = FaceDetector() if blur else None
    tmp = out_path.with_name(out_path.name + ".part")
    first: float | None = None
    last, frames, faces = 0.0, 0, 0
    last_pts = -1
    with av.open(str(tmp), "w", format="mp4") as out:
        stream: av.video.stream.VideoStream | None = None
        for seg in segments:
            with av.open(str(index.absolute(seg))) as src:
                video = src.streams.video[0]
                if start > seg.start_ts + 2 and video.time_base:  # to the keyframe before
                    src.seek(int((start - seg.start_ts) / video.time_base), stream=video)
                for frame in _decoded(src, video, seg.complete):
                    t = seg.start_ts + float(frame.time or 0.0)
                    if t < start:
                        continue
                    if t > end:
                        break
                    if stream is None:
                        stream = out.add_stream("libx264", rate=25)
                        stream.width, stream.height = frame.width - frame.width % 2, \
                            frame.height - frame.height % 2
                        stream.pix_fmt = "yuv420p"
                        # the encoder's clock too: at its default (1/25 s) two frames a
                        # camera sent less than 40 ms apart got one pts, and the muxer
                        # refused the second with EINVAL
                        stream.time_base = stream.codec_context.time_base = CLOCK
                        stream.codec_context.options = {"crf": "23", "preset": "veryfast"}
                        first = t
                    assert first is not None
                    rgb = frame.to_ndarray(format="rgb24")[:stream.height, :stream.width]
                    if detector is not None:
                        found = detector.detect(rgb)
                        faces += len(found)
                        rgb = blur_faces(rgb, found)
                    if watermark:
                        rgb = _watermark(rgb, f"{watermark}  {format_time(t, tz)}")
                    image = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    # strictly increasing: a segment's first frame can land on (or a tick
                    # before) the last one of the segment before it
                    pts = max(round((t - first) / CLOCK), last_pts + 1)
                    image.pts, last_pts = pts, pts
                    image.time_base = CLOCK
                    out.mux(stream.encode(image.reformat(format="yuv420p")))
                    last, frames = t, frames + 1
                    progress(min(1.0, (t - start) / max(1.0, end - start)))
        if stream is not None:
            out.mux(stream.encode(None))
    if first is None:
        tmp.unlink(missing_ok=True)
        raise StorageError("该时段没有可导出的画面 no picture in that range")
    tmp.replace(out_path)
    progress(1.0)
    return ExportResult(out_path, first, last, frames, len(segments), faces)


def _decoded(src: av.container.InputContainer, video: av.video.stream.VideoStream,
             complete: bool) -> Iterator[av.VideoFrame]:
    """The segment's frames; the open segment ends quietly at its unfinished fragment."""
    try:
        yield from src.decode(video)
    except (av.FFmpegError, OSError):
        if complete:
            raise


def _watermark(rgb: np.ndarray, text: str) -> np.ndarray:
    """ASCII (OpenCV's Hershey fonts have no Chinese), white on a dark band, bottom left."""
    out = np.ascontiguousarray(rgb)
    scale = max(0.4, out.shape[0] / 900)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    y = out.shape[0] - 10
    out[y - h - 8:y + base + 2, 4:w + 16] //= 3
    cv2.putText(out, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out
