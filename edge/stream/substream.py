"""A camera's sub stream, pulled only while a consumer asked for it (a GB/T 28181 platform
on 4G with a=streamnumber:1, a small tile in the web UI). It feeds the hub under its own
key; it is never recorded, and it stops when its last consumer leaves."""

from __future__ import annotations

import logging
import random
import threading
import time

import av

from edge.errors import StreamError
from edge.ingest.backoff import Backoff
from edge.ingest.media import KEPT_AUDIO
from edge.ingest.rtsp import open_camera, stream_info
from edge.stream.hub import StreamHub

logger = logging.getLogger(__name__)


class SubStream(threading.Thread):
    def __init__(self, key: str, url: str, transport: str, hub: StreamHub) -> None:
        super().__init__(name=f"sub:{key}", daemon=True)
        self.key, self.url, self.transport, self.hub = key, url, transport, hub
        self.stop_event = threading.Event()

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        backoff, rng = Backoff(), random.Random()
        while not self.stop_event.is_set():
            try:
                container = open_camera(self.url, self.transport)
            except StreamError as exc:
                logger.warning("sub stream %s: %s", self.key, exc)
                self.stop_event.wait(backoff.next_delay(time.monotonic(), rng))
                continue
            backoff.reset()
            try:
                self._pump(container)
            except (av.FFmpegError, OSError) as exc:
                logger.warning("sub stream %s ended: %s", self.key, exc)
            finally:
                container.close()
                self.hub.disconnected(self.key)

    def _pump(self, container: av.container.InputContainer) -> None:
        video = container.streams.video[0]
        audio = next((s for s in container.streams.audio
                      if s.codec_context.name in KEPT_AUDIO), None)
        self.hub.connected(self.key, stream_info(video, audio))
        origin: dict[int, tuple[float, float]] = {}  # stream -> (first ts, wall then)
        for packet in container.demux(*([video] + ([audio] if audio else []))):
            if self.stop_event.is_set():
                return
            ts = packet.dts if packet.dts is not None else packet.pts
            if ts is None or not packet.size:
                continue
            seconds = float(ts * packet.time_base)
            first, wall = origin.setdefault(packet.stream_index, (seconds, time.time()))
            is_video = packet.stream_index == video.index
            self.hub.on_packet(self.key, is_video, is_video and packet.is_keyframe,
                               bytes(packet), wall + seconds - first)
