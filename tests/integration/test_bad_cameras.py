"""One camera failing in every way a field camera does, while another keeps recording."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from edge.config import CameraConfig, StorageConfig
from edge.ingest.state import CameraState
from edge.record.index import Index
from edge.record.recorder import CameraRecorder
from edge.sim.server import CameraServer, free_port
from tests.conftest import wait_for

GOOD = "34020000001320000001"
BAD = "34020000001320000002"


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """A TCP server that answers anything with bytes that are not RTSP."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n\x00\x01garbage" * 20)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join()
    sock.close()


def _record(tmp_path: Path, urls: dict[str, str]) -> tuple[threading.Event, dict[str, CameraState],
                                                            list[CameraRecorder]]:
    Index(tmp_path).close()
    stop = threading.Event()
    states = {cid: CameraState(cid) for cid in urls}
    recorders = [CameraRecorder(CameraConfig(cid, cid, url), StorageConfig(segment_seconds=10),
                                tmp_path, stop, states[cid]) for cid, url in urls.items()]
    for r in recorders:
        r.start()
    return stop, states, recorders


def _stop(stop: threading.Event, recorders: list[CameraRecorder]) -> None:
    stop.set()
    for r in recorders:
        r.join(15)
        assert not r.is_alive()


@pytest.mark.parametrize("bad_kind, expected", [
    ("password", "认证失败: 用户名或密码错误 authentication failed"),
    ("garbage", "对端不是 RTSP 摄像机或数据无效 peer is not an RTSP camera"),
    ("refused", "连接被拒绝: 端口未开放 connection refused"),
    ("missing_path", "通道路径不存在 stream path not found (404)"),
])
def test_bad_camera_gets_a_clear_error_and_the_good_one_records(
    tmp_path: Path, cameras: Callable[..., CameraServer], garbage_server: int,
    caplog: pytest.LogCaptureFixture, bad_kind: str, expected: str,
) -> None:
    good = cameras({"/good": "h264"})
    secured = cameras({"/cam": "h264"}, user="admin", password="right")
    bad_url = {
        "password": f"rtsp://admin:Wr0ngPw@127.0.0.1:{secured.port}/cam",
        "garbage": f"rtsp://127.0.0.1:{garbage_server}/x",
        "refused": f"rtsp://127.0.0.1:{free_port()}/x",
        "missing_path": good.url("/nothing-here"),
    }[bad_kind]
    caplog.set_level(logging.WARNING)
    stop, states, recorders = _record(tmp_path, {GOOD: good.url("/good"), BAD: bad_url})
    try:
        wait_for(lambda: states[BAD].last_error, 15, "the bad camera's error")
        wait_for(lambda: states[GOOD].recording, 15, "the good camera recording")
        time.sleep(3)  # a few retries of the bad camera
    finally:
        _stop(stop, recorders)
    assert states[BAD].last_error.startswith(expected)
    assert not states[BAD].online
    assert "Wr0ngPw" not in caplog.text  # the password never reaches a log line
    warnings = [r for r in caplog.records if f"camera={BAD}" in r.getMessage()]
    assert len(warnings) == 1, "one line per change of error, not one per retry"
    index = Index(tmp_path, readonly=True)
    assert not index.segments(BAD)
    assert index.segments(GOOD)
    index.close()


def test_right_password_records(tmp_path: Path, cameras: Callable[..., CameraServer]) -> None:
    secured = cameras({"/cam": "h264_g711a"}, user="admin", password="right")
    stop, states, recorders = _record(tmp_path, {GOOD: secured.url("/cam")})
    try:
        wait_for(lambda: states[GOOD].recording, 15, "recording")
        time.sleep(6)  # a full rate window
        live = states[GOOD].to_dict(time.time())
        assert 23 <= live["fps"] <= 27
        assert 500_000 < live["bitrate_bps"] < 2_000_000
        assert states[GOOD].audio_codec == "pcm_alaw"
    finally:
        _stop(stop, recorders)


def test_stalled_camera_is_declared_down_and_recovers(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/cam": "h264"})
    stop, states, recorders = _record(tmp_path, {GOOD: cam.url("/cam")})
    try:
        wait_for(lambda: states[GOOD].recording, 15, "recording")
        cam.freeze()  # connection stays up, no packets
        frozen = time.monotonic()
        wait_for(lambda: not states[GOOD].online, 20, "stall detection")
        assert 9.0 <= time.monotonic() - frozen <= 14.0
        assert "超时" in (states[GOOD].last_error or "")
        cam.thaw()
        wait_for(lambda: states[GOOD].recording, 20, "recording again")
    finally:
        _stop(stop, recorders)
    assert len(states[GOOD].reconnect_times) == 1


def test_udp_transport_records(tmp_path: Path, cameras: Callable[..., CameraServer]) -> None:
    cam = cameras({"/cam": "h265"})
    Index(tmp_path).close()
    stop = threading.Event()
    recorder = CameraRecorder(CameraConfig(GOOD, GOOD, cam.url("/cam"), transport="udp"),
                              StorageConfig(segment_seconds=10), tmp_path, stop)
    recorder.start()
    try:
        # 30 s: a lost first datagram burst costs one read timeout and a reconnect
        wait_for(lambda: recorder.state.recording, 30, "recording over RTP/UDP")
        time.sleep(6)  # a full rate window
        assert 23 <= recorder.state.to_dict(time.time())["fps"] <= 27
    finally:
        _stop(stop, [recorder])
    index = Index(tmp_path, readonly=True)
    segs = index.segments(GOOD)  # one or two: 10-s segments cut at aligned boundaries
    assert segs and all(s.complete and s.video_codec == "hevc" for s in segs)
    assert sum(s.end_ts - s.start_ts for s in segs) > 5
    index.close()
