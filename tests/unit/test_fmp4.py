"""Our fragmented MP4 for the browser, read back by FFmpeg (PyAV): every frame of real
H.264, H.265 and H.264 + AAC clips decodes, in order, with its burned-in counter."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from edge.ingest.media import StreamInfo
from edge.sim.clips import read_counter, read_units
from edge.stream.fmp4 import Fmp4Error, Fmp4Writer, nal_units, video_track
from tests.conftest import FPS


@pytest.mark.parametrize("clip, codec, prefix", [
    ("h264", "h264", "avc1.64"), ("h265", "hevc", "hvc1.1.6.L"), ("h264_aac", "h264", "avc1.")])
def test_a_clip_as_fmp4_decodes_frame_by_frame(clips: dict[str, Path], tmp_path: Path,
                                               clip: str, codec: str, prefix: str) -> None:
    base = clips[clip].with_suffix("")
    video = read_units(base.with_suffix(".video"))[:60]
    aac = clip.endswith("aac")
    info = StreamInfo(codec, "aac" if aac else None, b"", 16000, 1, 640, 360)
    writer = Fmp4Writer(info)
    out = bytearray(writer.init(video[0]))
    assert writer.codecs.startswith(prefix) and ("mp4a.40.2" in writer.codecs) == aac
    audio = [u[7:] for u in read_units(base.with_suffix(".audio"))] if aac else []  # ADTS off
    events = [(i / FPS, True, i % 25 == 0, u) for i, u in enumerate(video)]  # GOP 25
    events += [(i * 1024 / 16000, False, False, u) for i, u in enumerate(audio)
               if i * 1024 / 16000 < 2.4]
    for t, is_video, key, unit in sorted(events, key=lambda e: e[0]):
        out += writer.frame(is_video, key, unit, 1_800_000_000.0 + t)
    path = tmp_path / "live.mp4"
    path.write_bytes(bytes(out))
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == codec
        assert bool(container.streams.audio) == aac
        frames = list(container.decode(video=0))
    counters = [read_counter(f.to_ndarray(format="gray")) for f in frames]
    assert counters == list(range(60))
    assert abs(float(frames[-1].time or 0) - 59 / FPS) < 0.01


def test_annexb_splitting_and_refusals() -> None:
    assert nal_units(b"\x00\x00\x00\x01\x67ab\x00\x00\x01\x68cd\x00\x00\x00\x01\x65ef") == [
        b"\x67ab", b"\x68cd", b"\x65ef"]
    with pytest.raises(Fmp4Error, match="without SPS/PPS"):
        video_track(StreamInfo("h264", None, b""), b"\x00\x00\x01\x65xx")
    with pytest.raises(Fmp4Error, match="cannot go into MP4"):
        video_track(StreamInfo("mjpeg", None, b""), b"")


def test_g711_is_left_out_and_time_never_goes_back() -> None:
    writer = Fmp4Writer(StreamInfo("h264", "pcm_alaw", b"\x00\x00\x01\x67\x64\x00\x1f"
                                   b"\x00\x00\x01\x68\xee"))
    writer.init(b"\x00\x00\x01\x65\x88")
    assert writer.codecs == "avc1.64001f"
    assert writer.frame(False, False, b"\xd5" * 160, 10.0) == b""
    writer.frame(True, True, b"\x00\x00\x01\x65\x88", 10.0)
    writer.frame(True, False, b"\x00\x00\x01\x41\x9a", 9.0)  # a clock step back
    assert writer.last[1][0] == 1
