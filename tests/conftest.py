"""Shared fixtures: real simulated cameras (GStreamer RTSP) fed by real encoded clips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pytest

from edge.sim.clips import ClipSpec, ensure_clip, filling
from edge.sim.scenes import vtest_avi
from edge.sim.server import CameraServer, gstreamer_missing

T = TypeVar("T")

# the boot test (tests/boot) needs an image build first: `make boot-test` runs it
collect_ignore = [] if os.environ.get("EDGE_BOOT_TEST") else ["boot"]

ROOT = Path(__file__).resolve().parents[1]
CLIP_CACHE = ROOT / ".cache" / "clips"
FPS = 25
CLIP_FRAMES = 250  # 10 s clips: the burned-in counter wraps at 250

SPECS = {
    "h264": ClipSpec("t-h264"),
    "h265": ClipSpec("t-h265", codec="hevc"),
    "h265_g711a": ClipSpec("t-h265-g711a", codec="hevc", audio="pcm_alaw"),
    "h264_g711a": ClipSpec("t-h264-g711a", audio="pcm_alaw"),
    "h264_aac": ClipSpec("t-h264-aac", audio="aac"),
}


@pytest.fixture(scope="session")
def clips() -> dict[str, Path]:
    return {name: ensure_clip(spec, CLIP_CACHE) for name, spec in SPECS.items()}


MEDIA_CACHE = ROOT / ".cache" / "media"


def street_clips() -> dict[str, Path]:
    """Real scenes for detection (from Debian's opencv-doc, fetched once): ``street``, 30 s
    of vtest.avi (people walking past parked cars), a keyframe a second; ``empty``, the same
    street with nobody in it (the median of vtest's frames), standing still."""
    vtest = vtest_avi(MEDIA_CACHE)
    empty = MEDIA_CACHE / "vtest-empty.png"
    with filling(empty):
        if not empty.exists():
            _median_picture(vtest, empty)
    specs = {"street": ClipSpec("t-street", width=640, height=480, fps=10, seconds=30, gop=10,
                                bitrate=1_000_000, source=str(vtest)),
             "empty": ClipSpec("t-street-empty", width=640, height=480, fps=10, seconds=10,
                               gop=10, bitrate=1_000_000, source=str(empty))}
    return {name: ensure_clip(spec, CLIP_CACHE) for name, spec in specs.items()}


def _median_picture(vtest: Path, out: Path) -> None:
    """The street with nobody in it: the median of every 8th frame."""
    import av
    import numpy as np

    with av.open(str(vtest)) as container:
        frames = [f.to_ndarray(format="rgb24")
                  for i, f in enumerate(container.decode(video=0)) if i % 8 == 0]
    median = np.median(np.stack(frames), axis=0).astype(np.uint8)
    picture = av.VideoFrame.from_ndarray(median, format="rgb24")
    with av.open(str(out), "w", format="image2") as png:
        stream = png.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = picture.width, picture.height, "rgb24"
        png.mux(stream.encode(picture))
        png.mux(stream.encode(None))


def skimage_picture(name: str) -> Path:
    """A picture of scikit-image's data folder (e.g. ``motorcycle_left.png``), from its wheel
    on PyPI (downloaded once, not installed; only that file kept)."""
    target = MEDIA_CACHE / name
    with filling(target):
        if target.exists():
            return target
        import tempfile
        import zipfile

        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--only-binary=:all:", "-d", tmp, "scikit-image==0.26.0"],
                           check=True, capture_output=True)
            [wheel] = Path(tmp).glob("scikit_image-*.whl")
            target.write_bytes(zipfile.ZipFile(wheel).read(f"skimage/data/{name}"))
    return target


def degraded_clips(effects: tuple[str, ...]) -> dict[str | None, Path]:
    """vtest's street for 10 s, then 10 s of each fault (None: healthy throughout)."""
    vtest = str(vtest_avi(MEDIA_CACHE))
    return {effect: ensure_clip(ClipSpec(f"t-quality-{effect or 'healthy'}", width=640,
                                         height=480, fps=10, seconds=20, gop=10,
                                         bitrate=2_000_000, source=vtest, effect=effect),
                                CLIP_CACHE)
            for effect in (None, *effects)}


@pytest.fixture(scope="session")
def gstreamer() -> None:
    # Not a skip: the camera suites are core and CI installs GStreamer.
    missing = gstreamer_missing()
    if missing:
        pytest.fail(missing)


@pytest.fixture
def cameras(gstreamer: None, clips: dict[str, Path]) -> Iterator[Callable[..., CameraServer]]:
    """Factory: ``cameras({"/a": "h264"}, user=..., password=..., port=...)``."""
    started: list[CameraServer] = []

    def start(mounts: dict[str, str], **kwargs: object) -> CameraServer:
        server = CameraServer({p: clips[c] for p, c in mounts.items()}, **kwargs)  # type: ignore[arg-type]
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real small filesystem. Needs root (CI runs as root): failing is failing, not a skip."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def write_config(path: Path, data_dir: Path, cameras: list[tuple[str, str]],
                 extra: str = "", camera_extra: str = "") -> Path:
    lines = ["[node]", 'id = "34020000001180000001"', f'data_dir = "{data_dir}"', extra, ""]
    for cam_id, url in cameras:
        lines += ["[[cameras]]", f'id = "{cam_id}"', f'name = "测试 {cam_id[-2:]}"',
                  f'url = "{url}"', camera_extra, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Daemon:
    """``edge run`` as a real process group (supervisor + recorder child)."""

    def __init__(self, config: Path, env: dict[str, str] | None = None,
                 prefix: tuple[str, ...] = ()) -> None:
        self.config = config
        self.prefix = prefix  # e.g. setpriv, to run without a capability
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config.with_suffix(".log").open("ab")

    def start(self) -> Daemon:
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "edge", "run", "--config", str(self.config)],
            stdout=self.log, stderr=self.log, start_new_session=True, env=self.env,
        )
        return self

    def recorder_pid(self) -> int | None:
        assert self.proc is not None
        # by its command line: the children's pids are in no order (pids wrap around)
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", " _recorder "],
                             capture_output=True, text=True)
        pids = [int(p) for p in out.stdout.split()]
        return pids[0] if pids else None

    def kill_all(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """The predicate's first truthy value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
