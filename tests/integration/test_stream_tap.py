"""The stream tap: another process reads a camera's live frames from the recorder's hub,
starting with the cached GOP; a reader that stalls costs it frames, never the recording."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable

from edge.ingest.media import Frame, StreamInfo
from edge.sim.server import CameraServer
from edge.stream.hub import StreamHub
from edge.stream.tap import TapReader, TapServer, decode, encode, encode_frame
from tests.conftest import Daemon, wait_for, write_config

CAM = "34020000001320000001"


def test_a_viewer_gets_the_gop_first_then_live_frames(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264_aac"})
    data = tmp_path / "data"
    daemon = Daemon(write_config(tmp_path / "edge.toml", data, [(CAM, cam.url("/a"))])).start()
    try:
        def first_records() -> list:
            try:
                reader = TapReader(data, CAM, timeout_s=5)
            except OSError:
                return []
            out = []
            try:
                for kind, item in reader.records():
                    out.append((kind, item))
                    if sum(k == "frame" for k, _ in out) >= 60:
                        return out
            finally:
                reader.close()
            return out

        records = wait_for(lambda: (r := first_records()) and r[0][0] == "info" and r, 30,
                           "a connected camera through the tap")
        info = records[0][1]
        assert isinstance(info, StreamInfo)
        assert (info.video, info.audio, info.width, info.height) == ("h264", "aac", 640, 360)
        frames = [f for k, f in records if k == "frame"]
        assert frames[0].video and frames[0].keyframe  # decodable from the first record
        assert any(not f.video for f in frames)  # the AAC frames too
        video = [f.t for f in frames if f.video]
        assert video == sorted(video)
    finally:
        daemon.stop()


def test_a_stalled_reader_skips_to_a_keyframe_and_never_blocks(tmp_path: Path) -> None:
    hub = StreamHub()
    stop = threading.Event()
    TapServer(hub, tmp_path, stop).start()
    hub.connected(CAM, StreamInfo("h264", None, b"", width=64, height=64))
    reader = TapReader(tmp_path, CAM)
    time.sleep(0.3)  # subscribed
    # 3000 x 20 KB, far more than the socket and the queue hold, while nobody reads: if
    # the camera thread waited for the reader, this loop would never end
    for n in range(3000):
        hub.on_packet(CAM, True, n % 50 == 0, n.to_bytes(4, "big") * 5000, n / 25)
    seen: list[int] = []

    def read() -> None:
        for kind, item in reader.records():
            if kind == "frame":
                assert isinstance(item, Frame)
                seen.append(int.from_bytes(item.data[:4], "big"))
                if seen[-1] == 3049:
                    return

    thread = threading.Thread(target=read)
    thread.start()
    wait_for(lambda: seen and seen[-1] < 3000 and len(seen) > 200, 10, "the backlog read")
    time.sleep(1)  # drained: the next keyframe goes through
    for n in range(3000, 3050):
        hub.on_packet(CAM, True, n % 50 == 0, n.to_bytes(4, "big") * 5000, n / 25)
    thread.join(20)
    reader.close()
    stop.set()
    assert seen[-1] == 3049
    jumps = [b for a, b in zip(seen, seen[1:]) if b != a + 1]
    assert jumps and all(n % 50 == 0 for n in jumps), jumps[:10]


def test_records_round_trip_and_garbage_is_our_error() -> None:
    import pytest

    from edge.stream.tap import TapError

    info = StreamInfo("hevc", "pcm_alaw", b"\x00\x00\x01\x40", 8000, 1, 1920, 1080)
    buf = bytearray(encode(b"I", json.dumps(info.as_dict()).encode())
                    + encode_frame(Frame(True, True, b"abc", 12.5)) + encode(b"N", b""))
    buf += encode_frame(Frame(False, False, b"x", 13.0))[:7]  # a partial record stays
    assert list(decode(buf)) == [("info", info), ("frame", Frame(True, True, b"abc", 12.5)),
                                 ("gone", None)]
    assert len(buf) == 7
    for bad in (encode(b"I", b"{"), encode(b"I", b'{"video": 1}'), encode(b"Z", b""),
                encode(b"F", b"\x01"), b"F" + (1 << 30).to_bytes(4, "big")):
        with pytest.raises(TapError):
            list(decode(bytearray(bad)))


def test_a_keyframes_reader_there_before_its_camera_gets_it_at_once(tmp_path: Path) -> None:
    """The tap checks whether an idle reader hung up without waiting (it used to wait 10 s
    there, so a detector started before its camera saw nothing for that long)."""
    hub = StreamHub()
    stop = threading.Event()
    TapServer(hub, tmp_path, stop).start()
    reader = TapReader(tmp_path, CAM, keyframes=True, timeout_s=20)
    got: list[tuple[str, float]] = []

    def read() -> None:
        for kind, _ in reader.records():
            got.append((kind, time.monotonic()))
            if kind == "frame":
                return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        wait_for(lambda: got, 5, "the reader told the camera is not there")
        time.sleep(2.5)  # the tap's idle check has run
        connected = time.monotonic()
        hub.connected(CAM, StreamInfo("h264", None, b"\0\0\0\1"))
        hub.on_packet(CAM, True, True, b"\0\0\0\1\x65", time.time())
        thread.join(5)
        assert [k for k, _ in got] == ["gone", "info", "frame"]
        assert got[-1][1] - connected < 1.0
    finally:
        stop.set()
        reader.close()
