"""A full data disk: precise errors (once), no crash, the fragments kept, recording resumes
when space is freed. Real tmpfs, real camera, real SQLite."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterator

import av
import pytest

from edge.config import parse
from edge.record.index import Index
from edge.record.naming import RECORDINGS_DIR
from edge.record.recorder import CameraRecorder
from edge.retention.manager import RetentionManager
from edge.sim.clips import ClipSpec, ensure_clip
from edge.sim.server import CameraServer
from tests.conftest import CLIP_CACHE, tmpfs, wait_for

CAM = "34020000001320000001"
# 2 Mbit/s fills the 8 MB disk (4 MB of it ballast) in about 16 s
BUSY_CLIP = ClipSpec("t-720p", width=1280, height=720, gop=25, bitrate=2_000_000)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "8m") as mount:
        yield mount


def test_full_disk_is_survived_and_recording_resumes(
    tiny_disk: Path, gstreamer: None, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    meta = ensure_clip(BUSY_CLIP, CLIP_CACHE)
    with CameraServer({"/cam": meta}) as server:
        cfg = parse({
            "node": {"id": "34020000001180000001", "data_dir": str(tiny_disk)},
            "storage": {"segment_seconds": 10, "min_free_percent": 0.0, "min_free_gb": 0.0005,
                        "check_interval_s": 1.0},
            "cameras": [{"id": CAM, "name": "满盘", "url": server.url("/cam")}],
        })
        index = Index(tiny_disk)
        # everything is evidence: retention may delete nothing, so the disk really fills
        index.add_lock(CAM, time.time() - 3600, time.time() + 3600, "all evidence")
        ballast = tiny_disk / "ballast"  # something else on the disk, removed by hand later
        ballast.write_bytes(b"\0" * 4 * 1024**2)
        stop = threading.Event()
        recorder = CameraRecorder(cfg.cameras[0], cfg.storage, tiny_disk, stop)
        retention = RetentionManager(cfg, stop)
        recorder.start()
        retention.start()
        try:
            wait_for(lambda: "失败" in (recorder.state.last_error or ""), 90, "the disk to fill")
            time.sleep(5)  # keyframes keep arriving and keep failing
            assert recorder.is_alive() and retention.is_alive()
            assert recorder.state.online and "失败" in (recorder.state.last_error or "")
            ballast.unlink()  # the technician frees space
            freed = time.time()
            wait_for(lambda: recorder.state.recording and not recorder.state.last_error, 60,
                     "recording to resume")
            wait_for(lambda: [s for s in index.segments(CAM, freed) if s.complete
                              and s.start_ts > freed], 30, "a new complete segment")
        finally:
            stop.set()
            recorder.join(15)
            retention.join(15)
    errors = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.ERROR and r.name == "edge.record.recorder"]
    assert errors and len(errors) <= 6, errors  # once per change, not once per keyframe
    # whichever write hit the wall first: the segment file or its index row
    assert any("No space left on device" in e or "database or disk is full" in e for e in errors)
    assert any("recording to disk again" in r.getMessage() for r in caplog.records)
    # everything on disk is indexed, complete and decodable
    rows = index.segments(CAM)
    files = {str(p.relative_to(tiny_disk)) for p in (tiny_disk / RECORDINGS_DIR).rglob("*.*")}
    assert files == {s.path for s in rows}
    assert all(s.complete for s in rows)
    for seg in rows:
        with av.open(str(tiny_disk / seg.path)) as c:
            assert sum(1 for _ in c.decode(video=0)) > 0
    index.close()
