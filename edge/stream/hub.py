"""The live hub: camera threads hand it every packet; consumers tap it.

It keeps each stream's description and current GOP (a new consumer starts with a
keyframe at once) and offers every frame to the stream's consumers — GB/T 28181 sessions,
the stream tap that serves the web UI and the detector in their own processes. Offering
never blocks (each consumer has its own bounded queue, edge/stream/frames.py), and
whatever goes wrong in a consumer stays there: the packet is still recorded.

A camera's sub stream is pulled only while some consumer asked for it (stream 1) and is
never recorded; its key in the hub is ``<channel>#sub``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from edge.ingest.media import Frame, StreamInfo

if TYPE_CHECKING:
    from edge.stream.substream import SubStream

logger = logging.getLogger(__name__)

GOP_MAX_FRAMES = 600
SUB = "#sub"


class Consumer(Protocol):
    def offer(self, frame: Frame) -> None:
        """From a camera thread: must not block."""

    def on_info(self, info: StreamInfo | None) -> None:
        """The camera (re)connected with this description, or went away (None)."""


@dataclass
class _Stream:
    info: StreamInfo | None = None
    gop: list[Frame] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)


class StreamHub:
    def __init__(self, sub_urls: dict[str, tuple[str, str]] | None = None) -> None:
        self.sub_urls = sub_urls or {}  # channel -> (sub_url, transport)
        self.lock = threading.Lock()
        self.streams: dict[str, _Stream] = {}
        self.pullers: dict[str, SubStream] = {}
        self.failing: set[str] = set()  # keys whose fan-out raised (logged once)

    # -- from the camera threads ------------------------------------------------------

    def connected(self, key: str, info: StreamInfo) -> None:
        with self.lock:
            stream = self.streams.setdefault(key, _Stream())
            stream.info, stream.gop = info, []
            consumers = list(stream.consumers)
        for consumer in consumers:
            consumer.on_info(info)

    def on_packet(self, key: str, video: bool, keyframe: bool, data: bytes, t: float) -> None:
        try:
            self._fan_out(key, video, keyframe, data, t)
        except Exception:
            if key not in self.failing:  # once per stream, not once per packet
                self.failing.add(key)
                logger.exception("camera=%s live fan-out failed; recording goes on", key)

    def _fan_out(self, key: str, video: bool, keyframe: bool, data: bytes, t: float) -> None:
        with self.lock:
            stream = self.streams.get(key)
            if stream is None or stream.info is None:
                return
            frame = Frame(video, keyframe, data, t)
            if video and keyframe:
                stream.gop = []
            if stream.gop or (video and keyframe):
                stream.gop.append(frame)
                del stream.gop[:-GOP_MAX_FRAMES]
            for consumer in stream.consumers:
                consumer.offer(frame)
        if self.failing:
            self.failing.discard(key)

    def disconnected(self, key: str) -> None:
        with self.lock:
            stream = self.streams.get(key)
            if stream is None:
                return
            stream.info, stream.gop = None, []
            consumers = list(stream.consumers)
        for consumer in consumers:
            consumer.on_info(None)

    # -- consumers ----------------------------------------------------------------------

    def subscribe(self, channel: str, consumer: Consumer,
                  stream: int = 0) -> tuple[str, StreamInfo | None, list[Frame]]:
        """Tap ``channel`` (stream 1: its sub stream, pulled from now on, if it has one);
        returns the hub key, the current description and GOP to start from."""
        key = channel + SUB if stream == 1 and channel in self.sub_urls else channel
        if key.endswith(SUB) and key not in self.pullers:
            from edge.stream.substream import SubStream  # PyAV

            url, transport = self.sub_urls[channel]
            self.pullers[key] = SubStream(key, url, transport, self)
            self.pullers[key].start()
        with self.lock:
            entry = self.streams.setdefault(key, _Stream())
            entry.consumers.append(consumer)
            return key, entry.info, list(entry.gop)

    def unsubscribe(self, key: str, consumer: Consumer) -> None:
        with self.lock:
            entry = self.streams.get(key)
            if entry and consumer in entry.consumers:
                entry.consumers.remove(consumer)
            last = entry is not None and not entry.consumers
            puller = self.pullers.pop(key, None) if last else None
        if puller:  # its last viewer left
            puller.stop()

    def wait_info(self, key: str, timeout_s: float) -> tuple[StreamInfo | None, list[Frame]]:
        """The description and GOP of ``key`` once it is connected (a sub stream pulled
        a moment ago is still connecting), or (None, []) after the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                entry = self.streams.get(key)
                if entry and entry.info:
                    return entry.info, list(entry.gop)
            if time.monotonic() >= deadline:
                return None, []
            time.sleep(0.05)

    def close(self) -> None:
        for puller in list(self.pullers.values()):
            puller.stop()
