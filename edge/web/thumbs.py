"""Runner (``edge _thumbs``, its own process: it decodes): a JPEG of every camera for the
dashboard, at most every 10 s, from the keyframes the stream tap sends (one decode per
camera per 10 s, no extra camera connection). A live tile that cannot play the camera's
codec asks for one every second (``thumbs/<channel>.want``, touched by the web UI)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import av

from edge.config import EdgeConfig
from edge.ingest.media import Frame, StreamInfo
from edge.log import also_to_file
from edge.record.snapshot import encode_jpeg
from edge.stream.tap import TapReader

logger = logging.getLogger(__name__)

EVERY_S = 10.0
WANTED_EVERY_S = 1.0
WANT_FRESH_S = 10.0  # a .want touched this recently means someone is looking
MAX_WIDTH = 640
RECONNECT_S = 3.0


class _Latest:
    """One camera's newest keyframe, kept by a thread reading the tap."""

    def __init__(self, data_dir: Path, channel: str, stop: threading.Event) -> None:
        self.data_dir, self.channel, self.stop = data_dir, channel, stop
        self.info: StreamInfo | None = None
        self.frame: Frame | None = None
        threading.Thread(target=self._read, name=f"thumb:{channel}", daemon=True).start()

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                reader = TapReader(self.data_dir, self.channel, keyframes=True, timeout_s=30)
                try:
                    for kind, item in reader.records():
                        if kind == "info":
                            self.info = item  # type: ignore[assignment]
                        elif kind == "frame":
                            self.frame = item  # type: ignore[assignment]
                        elif kind == "gone":
                            self.frame = None
                finally:
                    reader.close()
            except OSError:
                pass  # the recorder is restarting
            self.stop.wait(RECONNECT_S)


def picture(info: StreamInfo, frame: Frame) -> bytes:
    """The keyframe decoded and encoded as a JPEG at most MAX_WIDTH wide."""
    codec = av.CodecContext.create(info.video, "r")
    packet = av.Packet(info.extradata + frame.data)
    decoded = list(codec.decode(packet)) + list(codec.decode(None))
    if not decoded:
        raise ValueError("the keyframe did not decode")
    image = decoded[-1]
    if image.width > MAX_WIDTH:
        image = image.reformat(width=MAX_WIDTH, height=round(image.height * MAX_WIDTH
                                                              / image.width) // 2 * 2)
    return encode_jpeg(image, 6)


def run_thumbs(cfg: EdgeConfig) -> int:
    also_to_file(cfg.data_dir, "thumbs")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    folder = cfg.data_dir / "thumbs"
    folder.mkdir(parents=True, exist_ok=True)
    latest = {c.id: _Latest(cfg.data_dir, c.id, stop) for c in cfg.cameras}
    written: dict[str, tuple[float, float]] = {}  # channel -> (when, frame time)
    while not stop.wait(1.0):
        print("beat", flush=True)  # the supervisor's sign of life
        now = time.time()
        for channel, source in latest.items():
            want = folder / f"{channel}.want"
            wanted = want.exists() and now - want.stat().st_mtime < WANT_FRESH_S
            last, frame_t = written.get(channel, (0.0, 0.0))
            frame, info = source.frame, source.info
            if frame is None or info is None or frame.t == frame_t \
                    or now - last < (WANTED_EVERY_S if wanted else EVERY_S):
                continue
            try:
                jpeg = picture(info, frame)
            except (av.FFmpegError, ValueError) as exc:
                logger.warning("camera=%s thumbnail failed: %s", channel, exc)
                written[channel] = (now, frame.t)
                continue
            tmp = folder / f".{channel}.jpg"
            try:
                tmp.write_bytes(jpeg)
                os.replace(tmp, folder / f"{channel}.jpg")
            except OSError as exc:  # a full disk: the dashboard shows the older picture
                logger.warning("camera=%s thumbnail not written: %s", channel, exc)
            written[channel] = (now, frame.t)
    sys.stdout.flush()
    return 0
