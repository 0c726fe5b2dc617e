"""Runner: one thread per camera pulls RTSP and records it into indexed segments.

The loop owns one concern per camera: connect, copy packets into segments, and
reconnect forever. Any failure of this camera (auth, refused, garbage, stall, a
disk error) is logged once, shown in its state and retried; it never touches the
other cameras' threads.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from pathlib import Path

import av
import av.container
import av.stream

from edge import faults
from edge.config import CameraConfig, StorageConfig
from edge.errors import StreamError
from edge.ingest.backoff import Backoff
from edge.ingest.rate import RateMeter
from edge.ingest.media import KEPT_AUDIO
from edge.ingest.rtsp import READ_TIMEOUT_S, describe_error, open_camera, stream_info
from edge.ingest.state import CameraState
from edge.ingest.timeline import Timeline
from edge.record.index import Index
from edge.record.naming import container_for, segment_path
from edge.record.reconcile import repair_file
from edge.record.segmenter import Decision, Segmenter
from edge.record.writer import SegmentWriter
from edge.runner import Runner
from edge.stream.hub import StreamHub

logger = logging.getLogger(__name__)

INDEX_UPDATE_S = 5.0  # how often an open segment's end time is written to the index
MAX_PACKET_FAILURES = 100  # in a row: this session is broken, reconnect


class CameraRecorder(Runner):
    # a reconnect waits up to 36 s, an open or a read up to 10 s more: beyond this the
    # thread is wedged (in FFmpeg, say) and only a new recorder process helps
    stale_after_s = 90.0

    def __init__(
        self, camera: CameraConfig, storage: StorageConfig, data_dir: Path,
        stop: threading.Event, state: CameraState | None = None, hub: StreamHub | None = None,
    ) -> None:
        super().__init__(f"cam:{camera.id}", stop)
        self.camera = camera
        self.storage = storage
        self.data_dir = data_dir
        self.state = state or CameraState(camera.id)
        self.hub = hub  # live consumers (GB/T 28181, the web UI, detection) fed from this pull
        self.backoff = Backoff()
        self.rng = random.Random()
        self.sessions = 0
        self.disk_error: str | None = None
        # segments whose row could not be completed (index full): retried after the
        # next clean segment, else by start-up reconciliation
        self.unsettled: list[tuple[Index, int, Path, float]] = []

    def loop(self) -> None:
        index = Index(self.data_dir)
        try:
            while not self.stop_event.is_set():
                self.beat()
                faults.check("camera.loop")
                try:
                    error = self._session(index)
                except Exception as exc:  # a bug, not the camera: reconnect and record on
                    logger.exception("camera=%s session failed unexpectedly", self.camera.id)
                    error = f"内部错误 internal error: {type(exc).__name__}: {exc}"
                if self.stop_event.is_set():
                    break
                self._went_offline(error)
                delay = self.backoff.next_delay(time.monotonic(), self.rng)
                self.beat()
                self.stop_event.wait(delay)
        finally:
            self.state.online = self.state.recording = False
            index.close()

    def _went_offline(self, error: str) -> None:
        state = self.state
        if state.online or error != state.last_error:
            logger.warning("camera=%s offline: %s", self.camera.id, error)
        state.online = state.recording = False
        state.connected_since = None
        state.last_error = error

    def _session(self, index: Index) -> str:
        """Connect once and record until the stream fails; return why it ended."""
        try:
            container = open_camera(self.camera.url, self.camera.transport)
        except StreamError as exc:
            return str(exc)
        try:
            return self._pump(container, index)
        finally:
            container.close()

    def _pump(self, container: av.container.InputContainer, index: Index) -> str:
        video = container.streams.video[0]
        audio = next((s for s in container.streams.audio if s.codec_context.name in KEPT_AUDIO), None)
        streams: list[av.stream.Stream] = [video] + ([audio] if audio else [])
        self._connected(video, audio)
        session = _Session(self, index, streams, audio)
        started = last_arrival = time.monotonic()
        failures = 0  # packets in a row that raised unexpectedly
        try:
            for packet in container.demux(*streams):
                if self.stop_event.is_set():
                    return "停止 stopped"
                arrival = time.monotonic()
                if arrival - last_arrival >= READ_TIMEOUT_S:
                    # FFmpeg's read timeout first hands out what it had buffered;
                    # a silence this long already means the camera is down
                    return describe_error(TimeoutError(), arrival - last_arrival, READ_TIMEOUT_S)
                self.last_beat = last_arrival = arrival
                faults.check("camera.session")
                if not packet.size:  # size 0: a demuxer flush packet
                    continue
                try:
                    session.on_packet(packet)
                    failures = 0
                except Exception:  # drop this packet, record the next ones
                    failures += 1
                    if failures == 1:
                        logger.exception("camera=%s packet dropped after an unexpected error",
                                         self.camera.id)
                    if failures >= MAX_PACKET_FAILURES:
                        raise
            return "摄像机结束了流 camera ended the stream"
        except (av.FFmpegError, OSError) as exc:
            return describe_error(exc, time.monotonic() - started, READ_TIMEOUT_S)
        finally:
            session.close()

    def _connected(self, video: av.stream.Stream, audio: av.stream.Stream | None) -> None:
        state = self.state
        now = time.time()
        if self.sessions:
            state.note_reconnect(now)
        self.sessions += 1
        state.online = True
        state.meter = RateMeter()
        state.connected_since = now
        state.last_error = None
        state.video_codec = video.codec_context.name
        state.width, state.height = video.codec_context.width, video.codec_context.height
        state.audio_codec = audio.codec_context.name if audio else None
        logger.info("camera=%s connected: %s %sx%s audio=%s", self.camera.id, state.video_codec,
                    state.width, state.height, state.audio_codec or "none")
        if self.hub:
            self.hub.connected(self.camera.id, stream_info(video, audio))

    def open_segment(
        self, index: Index, t: float, streams: list[av.stream.Stream],
        audio: av.stream.Stream | None,
    ) -> _OpenSegment | None:
        audio_codec = audio.codec_context.name if audio else None
        path = segment_path(self.data_dir, self.camera.id, t, container_for(audio_codec))
        video = streams[0].codec_context
        # the row first: a crash between the two leaves a row to repair, never an
        # unindexed file
        try:
            seg_id = index.add_segment(
                self.camera.id, t, path, video_codec=video.name, audio_codec=audio_codec,
                width=video.width, height=video.height,
            )
        except sqlite3.Error as exc:
            self.disk_failed(f"索引写入失败 index write failed: {exc}")
            return None
        try:
            writer = SegmentWriter(path, t, streams, self.storage.fsync_interval_s)
        except (av.FFmpegError, OSError) as exc:
            self.disk_failed(f"无法创建录像文件 cannot create segment: {exc}")
            self.settle(index, seg_id, path, t)
            return None
        logger.debug("camera=%s segment started %s", self.camera.id, path.name)
        return _OpenSegment(index, seg_id, writer)

    def finish_segment(self, segment: _OpenSegment) -> None:
        if not segment.finish():
            self.settle(segment.index, segment.seg_id, segment.writer.path, segment.writer.start_ts)
            return
        retry, self.unsettled = self.unsettled, []
        for args in retry:
            self.settle(*args)
        if self.disk_error:
            logger.info("camera=%s recording to disk again after: %s", self.camera.id,
                        self.disk_error)
            self.disk_error = None
            self.state.last_error = None

    def settle(self, index: Index, seg_id: int, path: Path, start_ts: float) -> None:
        if not settle_segment(index, seg_id, path, start_ts):
            self.unsettled.append((index, seg_id, path, start_ts))

    def disk_failed(self, message: str) -> None:
        """Log a disk or index failure once per change, not once per keyframe."""
        self.state.recording = False
        self.state.last_error = message
        if message != self.disk_error:
            logger.error("camera=%s %s", self.camera.id, message)
            self.disk_error = message


class _Session:
    """One connection's packets: wall-clock times, segment cuts, the open segment."""

    def __init__(self, recorder: CameraRecorder, index: Index, streams: list[av.stream.Stream],
                 audio: av.stream.Stream | None) -> None:
        self.recorder = recorder
        self.index = index
        self.streams = streams
        self.audio = audio
        self.video_index = streams[0].index
        # float time bases: Fraction arithmetic per packet costs more than the mux
        self.time_bases = {s.index: float(s.time_base or 0) for s in streams}
        self.timeline = Timeline()
        self.reanchors = 0
        self.segmenter = Segmenter(recorder.storage.segment_seconds)
        self.segment: _OpenSegment | None = None

    def on_packet(self, packet: av.packet.Packet) -> None:
        rec, state = self.recorder, self.recorder.state
        faults.check("camera.packet")
        now = time.time()
        src = packet.stream_index
        is_video = src == self.video_index
        t = self._wall_time(packet, src, now)
        state.meter.add(now, packet.size, is_video)
        state.last_packet_ts = now
        if is_video and packet.is_keyframe:
            rec.backoff.reset()  # healthy again: the next outage starts from 1 s
        if rec.hub:
            rec.hub.on_packet(rec.camera.id, is_video, packet.is_keyframe, bytes(packet), t)
        if not rec.camera.record:
            return
        decision = self.segmenter.decide(t, is_video, packet.is_keyframe)
        if decision in (Decision.OPEN, Decision.CLOSE) and self.segment:
            rec.finish_segment(self.segment)
            self.segment = None
        if decision is Decision.OPEN:
            self.segment = rec.open_segment(self.index, t, self.streams, self.audio)
        if self.segment and decision in (Decision.OPEN, Decision.WRITE):
            try:
                self.segment.write(packet, t)
                state.recording = True
            except DiskError as exc:
                rec.disk_failed(str(exc))
                seg, self.segment = self.segment, None
                seg.writer.abandon()
                rec.settle(self.index, seg.seg_id, seg.writer.path, seg.writer.start_ts)
                self.segmenter.reset()  # retry from the next keyframe

    def _wall_time(self, packet: av.packet.Packet, src: int, now: float) -> float:
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None:
            # keep it: it is usually the first keyframe of the session
            return self.timeline.untimed(src, now)
        t = self.timeline.to_wall(src, ts * self.time_bases[src], now)
        if self.timeline.reanchors != self.reanchors:
            self.reanchors = self.timeline.reanchors
            if self.reanchors == 1 or self.reanchors % 100 == 0:  # garbage clocks jump a lot
                logger.warning("camera=%s timestamps jumped (%d times this session); "
                               "re-anchored to the local clock", self.recorder.camera.id,
                               self.reanchors)
        return t

    def close(self) -> None:
        if self.segment:
            self.recorder.finish_segment(self.segment)
            self.segment = None
        self.recorder.state.recording = False
        if self.recorder.hub:
            self.recorder.hub.disconnected(self.recorder.camera.id)


class DiskError(Exception):
    """Writing a segment file or its index row failed (disk full, I/O error)."""


class _OpenSegment:
    """A segment being written plus its index row, kept in step."""

    def __init__(self, index: Index, seg_id: int, writer: SegmentWriter) -> None:
        self.index = index
        self.seg_id = seg_id
        self.writer = writer
        self.last_update = time.monotonic()

    def write(self, packet: av.packet.Packet, t: float) -> None:
        try:
            self.writer.write(packet, t)
            self.writer.sync()
            now = time.monotonic()
            if now - self.last_update >= INDEX_UPDATE_S:
                self.index.update_segment(self.seg_id, self.writer.end_ts, self.writer.size, False)
                self.last_update = now
        except (av.FFmpegError, OSError) as exc:
            # the reason only (not the file name): the message is compared to the last
            # one so that a full disk is logged once, not at every keyframe
            raise DiskError(f"写入失败 write failed: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise DiskError(f"索引写入失败 index write failed: {exc}") from None

    def finish(self) -> bool:
        """Close the file and complete its row; False if either failed."""
        try:
            size = self.writer.close()
            self.index.update_segment(self.seg_id, self.writer.end_ts, size, True)
            return True
        except (av.FFmpegError, OSError, sqlite3.Error) as exc:
            logger.error("segment %s not finished cleanly: %s", self.writer.path, exc)
            return False


def settle_segment(index: Index, seg_id: int, path: Path, start_ts: float) -> bool:
    """After a failed write: keep the file's complete fragments, indexed; or drop both.

    Returns False when the index could not be updated (the row stays incomplete).
    """
    facts = repair_file(path) if path.exists() else None
    try:
        if facts is None:
            index.delete_segments([seg_id])  # the row first: never a row without a file
            path.unlink(missing_ok=True)
        else:
            index.update_segment(seg_id, start_ts + facts.duration_s, facts.size, True)
        return True
    except (OSError, sqlite3.Error) as exc:
        logger.error("cannot settle segment %s: %s", path, exc)
        return False
