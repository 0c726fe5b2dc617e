"""Runner (``edge _detect``, its own process: a model crash never touches recording; the
supervisor restarts it). One thread per camera reads the stream tap: for detection
(``detect = true``) the sub stream at ``detect.fps`` when the camera has one (the recorder
pulls it only while someone watches), else the main stream's keyframes only — no extra
camera connection; for quality diagnosis (every camera) one keyframe per
``quality.interval``.

Each event is written at once and in one transaction — the event row, its pictures under
``snapshots/`` and, with MQTT, an outbox message — when its track is confirmed; its
picture is replaced when a better one comes, and its end, path and duration are written
when the object leaves. A rule's event (a tripwire crossed, a stay in a zone: kinds
``tripwire``, ``loitering``, ``parked``) has its own row and the picture of that moment.
Outside its rule's arming schedule an event is still written, with ``armed: false``: no
alert, no alarm to the platform, but the morning review sees it. ``detect.json`` has each
camera's counters (frames, frames with motion, frames looked at because an object neared a
tripwire, sub stream frames not decoded, model runs, events) for ``edge status`` and the
tests.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np

from edge import faults
from edge.config import CameraConfig, EdgeConfig
from edge.detect import STATUS_FILE
from edge.detect.coco import MODEL_FILES, ObjectDetector
from edge.detect.pipeline import CameraPipeline
from edge.detect.rules import RuleEvent
from edge.detect.objects import Box
from edge.detect.tracker import Track, Update
from edge.errors import ProtocolError
from edge.ingest.media import StreamInfo
from edge.log import also_to_file
from edge.mqtt.outbox import Outbox
from edge.quality.watch import QualityWatch
from edge.record.index import Index
from edge.runner import survive, write_status
from edge.stream.tap import TapReader
from edge.timeranges import in_ranges

logger = logging.getLogger(__name__)

WIDTH = 640  # frames are looked at this wide (the model sees 300x300 of them)
RECONNECT_S = 3.0
STATUS_EVERY_S = 2.0
KIND = "detection"


class EventStore:
    """Events with their pictures, in the index (and the outbox), from every camera thread."""

    def __init__(self, cfg: EdgeConfig) -> None:
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.node.timezone)
        self.schedules = {c.id: {z.name: z.schedule for z in c.zones} for c in cfg.cameras}
        self.lock = threading.Lock()
        self.rows: dict[tuple[str, int], int] = {}  # (channel, track id) -> event id
        self._local = threading.local()  # a connection per camera thread (SQLite's rule)

    @property
    def index(self) -> Index:
        if not hasattr(self._local, "index"):
            self._local.index = Index(self.cfg.data_dir, schema=False)
        index: Index = self._local.index
        return index

    @property
    def outbox(self) -> Outbox | None:
        if not self.cfg.mqtt:
            return None
        if not hasattr(self._local, "outbox"):
            self._local.outbox = Outbox(self.cfg.data_dir, self.index.db)
        outbox: Outbox = self._local.outbox
        return outbox

    def write(self, channel: str, update: Update, rgb: np.ndarray,
              rules: list[RuleEvent] | None = None) -> None:
        _ = self.outbox  # opened before the transaction: opening it commits (its schema)
        with self.lock, self.index.transaction():
            for track in update.started:
                self._start(channel, track, rgb)
            for track in update.improved:
                self._pictures(channel, track, rgb)
                self._update(channel, track)
            for event in rules or []:
                self._rule(channel, event, rgb)
            for track in update.ended:
                self._end(channel, track)

    def armed(self, schedule: tuple[str, ...], ts: float) -> bool:
        return not schedule or in_ranges(schedule, datetime.fromtimestamp(ts, self.tz))

    def _data(self, channel: str, track: Track) -> dict[str, Any]:
        """An object's event: armed when one of its zones is at its start (a camera without
        zones, or a zone without a schedule: always)."""
        zones = self.schedules.get(channel, {})
        armed = not track.zones or any(self.armed(zones.get(z, ()), track.start)
                                       for z in track.zones)
        return {**_data(track), "armed": armed}

    def _start(self, channel: str, track: Track, rgb: np.ndarray) -> None:
        rel = self._pictures(channel, track, rgb)
        data = self._data(channel, track)
        event_id = self.index.add_event(channel, track.start, KIND, data, rel)
        self.rows[(channel, track.id)] = event_id
        if self.outbox is not None:
            self.outbox.put("events", {"type": KIND, "channel": channel, "event": event_id,
                                       "state": "start", **data}, time.time())
        logger.info("camera=%s %s seen (score %.2f, zones %s)", channel, track.label,
                    track.best.score, ",".join(sorted(track.zones)))

    def _update(self, channel: str, track: Track) -> None:
        event_id = self.rows.get((channel, track.id))
        if event_id is not None:
            self.index.update_event(event_id, self._data(channel, track))

    def _end(self, channel: str, track: Track) -> None:
        event_id = self.rows.pop((channel, track.id), None)
        if event_id is None:
            return
        data = self._data(channel, track)
        self.index.update_event(event_id, data)
        if self.outbox is not None:
            self.outbox.put("events", {"type": KIND, "channel": channel, "event": event_id,
                                       "state": "end", **data}, time.time())
        seconds = self.cfg.detect.lock_seconds
        if seconds:
            self.index.add_lock(channel, track.start - seconds, track.last + seconds,
                                f"{track.label} event {event_id}")

    def _rule(self, channel: str, event: RuleEvent, rgb: np.ndarray) -> None:
        track = event.track
        rel = self._pictures(channel, track, rgb, track.box, f"_{event.kind}_{event.rule}")
        b = track.box
        data: dict[str, Any] = {
            "label": track.label, "rule": event.rule, "score": round(track.best.score, 3),
            "box": [round(v, 4) for v in (b.x0, b.y0, b.x1, b.y1)],
            "armed": self.armed(event.schedule, track.last),
            "object_event": self.rows.get((channel, track.id))}
        if event.kind == "tripwire":
            data["direction"] = event.direction
        else:
            data["seconds"] = round(event.seconds)
        event_id = self.index.add_event(channel, track.last, event.kind, data, rel)
        if self.outbox is not None:
            self.outbox.put("events", {"type": event.kind, "channel": channel,
                                       "event": event_id, **data}, time.time())
        logger.info("camera=%s %s %s: %s %s%s", channel, event.kind, event.rule, track.label,
                    event.direction or f"{event.seconds:.0f} s",
                    "" if data["armed"] else " (not armed)")

    def _pictures(self, channel: str, track: Track, rgb: np.ndarray, box: Box | None = None,
                  tag: str = "") -> str:
        """The frame with the box drawn (the best one's, or ``box``), and the clean crop
        beside it (``.crop.jpg``)."""
        ts = track.start if not tag else track.last
        day = time.strftime("%Y-%m-%d", time.gmtime(ts))
        rel = f"snapshots/{channel}/{day}/{int(ts * 1000)}_{track.id}{_safe(tag)}.jpg"
        path = self.cfg.data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = rgb.shape[:2]
        b = box or track.best.box
        x0, y0, x1, y1 = int(b.x0 * w), int(b.y0 * h), int(b.x1 * w), int(b.y1 * h)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        crop = bgr[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)].copy()
        cv2.rectangle(bgr, (x0, y0), (x1, y1), (0, 0, 255), 2)
        for target, image in ((path, bgr), (crop_path(path), crop)):
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                tmp = target.with_name("." + target.name)
                tmp.write_bytes(jpeg.tobytes())
                os.replace(tmp, target)
        return rel


def _safe(tag: str) -> str:
    """A rule's name in a file name: letters, digits (any script), - and _ only."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in tag)[:40]


def crop_path(snapshot: Path) -> Path:
    return snapshot.with_suffix(".crop.jpg")


def _data(track: Track) -> dict[str, Any]:
    b = track.best.box
    return {"label": track.label, "score": round(track.best.score, 3),
            "box": [round(v, 4) for v in (b.x0, b.y0, b.x1, b.y1)],
            "zones": sorted(track.zones), "start": track.start, "end": track.last,
            "path": [[round(t, 2), round(x, 4), round(y, 4)] for t, x, y in track.path]}


class CameraWatcher(threading.Thread):
    """One camera: detection (``detect = true``) and quality diagnosis ([quality]) on the
    frames of the tap. Keyframes are decoded only when one of them is due."""

    def __init__(self, cfg: EdgeConfig, cam: CameraConfig, detector: ObjectDetector | None,
                 store: EventStore, stop: threading.Event) -> None:
        super().__init__(name=f"detect:{cam.id}", daemon=True)
        self.cfg, self.cam, self.store, self.stop = cfg, cam, store, stop
        self.sub = detector is not None and cam.sub_url is not None
        # keyframes come about every 2 s: the tracker waits longer for a second look
        self.pipeline = None if detector is None else CameraPipeline(
            cam, cfg.detect, detector.detect, 1.0 / cfg.detect.fps if self.sub else 2.0)
        self.quality = QualityWatch(cfg.data_dir, cam, cfg.quality, lambda: store.index) \
            if cfg.quality.enabled else None
        self.last_error: str | None = None

    @property
    def mode(self) -> str:
        return "sub" if self.sub else "keyframes"

    def run(self) -> None:
        while not self.stop.is_set():
            with survive(logger, "camera=%s detection connection", self.cam.id):
                try:
                    self._read()
                except (OSError, ProtocolError) as exc:
                    self._error(f"stream tap: {exc}")
            ended = self.pipeline.tracker.flush() if self.pipeline else []
            if ended:
                self.store.write(self.cam.id, Update(ended=ended), np.zeros((1, 1, 3), np.uint8))
            self.stop.wait(RECONNECT_S)

    def _read(self) -> None:
        reader = TapReader(self.cfg.data_dir, self.cam.id, stream=1 if self.sub else 0,
                           keyframes=not self.sub, timeout_s=30)
        info: StreamInfo | None = None
        codec: Any = None
        try:
            for kind, item in reader.records():
                if self.stop.is_set():
                    return
                if kind == "info":
                    assert isinstance(item, StreamInfo)
                    info, codec = item, av.CodecContext.create(item.video, "r")
                elif kind == "frame" and info is not None and item.video:  # type: ignore[union-attr]
                    if not self.sub and not self._due(item.t):  # type: ignore[union-attr]
                        continue  # not decoded at all: a quality-only camera costs ~nothing
                    if self.sub and self.pipeline is not None and \
                            not self.pipeline.to_decode(item.t, item.keyframe):  # type: ignore[union-attr]
                        continue  # calm, between keyframes
                    with survive(logger, "camera=%s detection frame", self.cam.id):
                        if not self.sub:  # each keyframe alone, out at once (no decoder delay)
                            codec = av.CodecContext.create(info.video, "r")
                        self._frame(codec, info, item)
        finally:
            reader.close()

    def _detect_due(self, t: float) -> bool:
        return self.pipeline is not None and self.pipeline.due(t)

    def _due(self, t: float) -> bool:
        return self._detect_due(t) or (self.quality is not None and self.quality.due(t))

    def _frame(self, codec: Any, info: StreamInfo, frame: Any) -> None:
        faults.check("detect.frame")
        data = info.extradata + frame.data if frame.keyframe else frame.data
        try:
            pictures = list(codec.decode(av.Packet(data)))
            if not self.sub:
                pictures += list(codec.decode(None))
        except av.FFmpegError as exc:
            self._error(f"decode: {exc}")
            return
        if not pictures or not self._due(frame.t):
            return  # the sub stream runs faster than detect.fps
        picture = pictures[-1]
        if picture.width > WIDTH:
            picture = picture.reformat(width=WIDTH,
                                       height=round(picture.height * WIDTH / picture.width) // 2 * 2)
        rgb = picture.to_ndarray(format="rgb24")
        if self.quality is not None and self.quality.due(frame.t):
            self.quality.sample(rgb, frame.t)
        if self.pipeline is not None and self._detect_due(frame.t):
            update, rules = self.pipeline.frame(rgb, frame.t)
            if update.started or update.improved or update.ended or rules:
                self.store.write(self.cam.id, update, rgb, rules)
        self.last_error = None

    def _error(self, message: str) -> None:
        if message != self.last_error:
            logger.warning("camera=%s detection: %s", self.cam.id, message)
        self.last_error = message

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.cam.id, "mode": self.mode,
                               "detect": self.pipeline is not None,
                               "quiet": bool(self.pipeline and self.pipeline.quiet),
                               "last_error": self.last_error}
        if self.pipeline is not None:
            c = self.pipeline.counters
            out.update(frames=c.frames, skipped=c.skipped, moving=c.moving,
                       near_line=c.near_line, inferences=c.inferences, events=c.events,
                       tracks=len(self.pipeline.tracker.tracks))
        if self.quality is not None:
            out["quality"] = self.quality.status()
        return out


def run_detect(cfg: EdgeConfig) -> int:
    also_to_file(cfg.data_dir, "detect")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    detecting = [c for c in cfg.cameras if c.detect and cfg.detect.enabled]
    detector = None
    if detecting:
        # the model keeps what the least demanding zone wants; each zone filters for itself
        floor = min([cfg.detect.min_score] + [z.min_score for c in detecting for z in c.zones
                                              if z.min_score])
        detector = ObjectDetector(floor, cfg.detect.threads, MODEL_FILES[cfg.detect.model])
    store = EventStore(cfg)
    watched = cfg.cameras if cfg.quality.enabled else tuple(detecting)
    watchers = [CameraWatcher(cfg, c, detector if c in detecting else None, store, stop)
                for c in watched]
    for w in watchers:
        w.start()
    logger.info("detection on %d cameras, quality diagnosis on %d (%s)", len(detecting),
                len(watchers) if cfg.quality.enabled else 0,
                ", ".join(f"{w.cam.id} {w.mode}" for w in watchers))
    status_at = 0.0
    while not stop.wait(1.0):
        print("beat", flush=True)  # the supervisor's sign of life
        now = time.monotonic()
        if now - status_at >= STATUS_EVERY_S:
            status_at = now
            write_status(cfg.data_dir, STATUS_FILE, {
                "ts": time.time(), "inferences": detector.invocations if detector else 0,
                "cameras": [w.status() for w in watchers]})
    return 0


