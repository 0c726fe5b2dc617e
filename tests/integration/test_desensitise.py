"""A desensitised export (脱敏后调取) re-encodes the footage as the camera timed it: frames
a camera sent closer than the nominal frame interval (network jitter) are all kept, in
order — once, two of them within 40 ms got one timestamp and the export failed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from edge.detect.desensitise import export_reencoded
from edge.record.index import Index

CH = "34020000001320000001"
T0 = 1_780_000_000.0
CLOCK = Fraction(1, 90_000)
GAPS = (0.039, 0.002, 0.079)  # 25 frames/s on average; two frames 2 ms apart


def recorded(path: Path, count: int) -> list[float]:
    """A segment of ``count`` H.264 frames at the jittery times a camera gave them; each
    frame has a white bar at x = 5 × its number (to find it again after the re-encode)."""
    times = [0.0]
    while len(times) < count:
        times.append(times[-1] + GAPS[len(times) % len(GAPS)])
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = stream.codec_context.time_base = CLOCK
        for n, t in enumerate(times):
            picture = np.zeros((240, 320, 3), np.uint8)
            picture[:120, 5 * n:5 * n + 5] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = round(t / CLOCK), CLOCK
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return times


def test_frames_closer_than_the_frame_interval_are_all_exported(tmp_path: Path) -> None:
    path = tmp_path / "recordings" / "0.mp4"
    path.parent.mkdir()
    times = recorded(path, 60)
    index = Index(tmp_path)
    seg = index.add_segment(CH, T0, path, video_codec="h264", audio_codec=None, width=320,
                            height=240)
    index.update_segment(seg, T0 + times[-1], path.stat().st_size, True)
    out = tmp_path / "export.mp4"
    result = export_reencoded(index, CH, T0, T0 + 10, out, blur=True, watermark="oper",
                              tz="Asia/Shanghai")
    index.close()
    assert result.video_packets == len(times)
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    # every frame, in order (its bar, away from the watermark's band at the bottom)
    bars = [int(np.argmax(f.to_ndarray(format="gray")[:120].mean(axis=0))) // 5 for f in frames]
    assert bars == list(range(len(times))), bars
    pts = [f.pts for f in frames]
    assert pts == sorted(set(pts))
