"""Export a time range of one channel into a single file, by stream copy.

Video is never re-encoded: the file starts at the last keyframe at or before the
requested start (the only place a copy can start) and runs across segment
boundaries to the requested end. G.711 audio cannot live in MP4, so for an
``.mp4`` target it alone is transcoded to AAC; ``.mov`` keeps it as recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import av.audio
import av.container
import av.packet
import av.stream

from edge.errors import StorageError
from edge.record.index import Index, Segment
from edge.record.naming import container_for

AAC_RATE = 16_000


@dataclass(frozen=True)
class ExportResult:
    path: Path
    start_ts: float
    end_ts: float
    video_packets: int
    segments: int
    faces_blurred: int = 0  # a desensitised export (edge/detect/desensitise.py)


def export_range(index: Index, channel_id: str, start: float, end: float,
                 out_path: Path,
                 progress: Callable[[float], None] = lambda _f: None) -> ExportResult:
    # the segment being written counts too: its fragments up to a second ago are on disk
    segments = index.segments(channel_id, start, end)
    if not segments:
        raise StorageError("该时段没有录像 no footage in that time range")
    fmt = {".mp4": "mp4", ".mov": "mov"}.get(out_path.suffix.lower())
    if fmt is None:
        raise StorageError("输出文件应为 .mp4 或 .mov output file must end in .mp4 or .mov")
    tmp = out_path.with_name(out_path.name + ".part")
    with av.open(str(tmp), "w", format=fmt) as out:
        job = _Export(out, fmt, start, end)
        for done, seg in enumerate(segments, 1):
            job.add_segment(index.absolute(seg), seg)
            progress(done / len(segments))
        job.flush()
    if job.first_ts is None:
        tmp.unlink(missing_ok=True)
        raise StorageError("该时段没有可导出的关键帧 no keyframe to start from in that range")
    tmp.replace(out_path)
    return ExportResult(out_path, job.first_ts, job.last_ts, job.video_packets, len(segments))


class _Export:
    def __init__(self, out: av.container.OutputContainer, fmt: str, start: float, end: float) -> None:
        self.out, self.fmt, self.start, self.end = out, fmt, start, end
        self.video_out: av.stream.Stream | None = None
        self.audio_out: av.stream.Stream | None = None
        self.transcode = False
        self.resampler: av.audio.resampler.AudioResampler | None = None
        self.fifo: av.audio.fifo.AudioFifo | None = None
        self.first_ts: float | None = None
        self.last_ts = 0.0
        self.last_dts: dict[str, int] = {}
        self.pending: list[tuple[av.packet.Packet, float]] = []  # GOP before `start`
        self.video_packets = 0
        self.audio_samples = 0

    def add_segment(self, path: Path, seg: Segment) -> None:
        with av.open(str(path)) as src:
            video = src.streams.video[0]
            audio = src.streams.audio[0] if src.streams.audio else None
            if self.video_out is None:
                self._add_streams(video, audio)
            streams = [video] + ([audio] if audio is not None and self.audio_out is not None else [])
            try:
                for packet in src.demux(*streams):
                    if packet.pts is None or packet.time_base is None:
                        continue
                    t = seg.start_ts + float(packet.pts * packet.time_base)
                    if t > self.end:
                        break
                    self._take(packet, t, packet.stream.type == "video")
            except (av.FFmpegError, OSError):
                if seg.complete:
                    raise
                # the open segment's last fragment is still being written: stop before it

    def _add_streams(self, video: av.stream.Stream, audio: av.stream.Stream | None) -> None:
        self.video_out = self.out.add_stream_from_template(video)
        if audio is None:
            return
        name = audio.codec_context.name
        if self.fmt == "mp4" and container_for(name) == "mov":
            self.transcode = True
            self.audio_out = self.out.add_stream("aac", rate=AAC_RATE, layout="mono")
            self.resampler = av.AudioResampler(format="fltp", layout="mono", rate=AAC_RATE)
            self.fifo = av.AudioFifo()
        else:
            self.audio_out = self.out.add_stream_from_template(audio)

    def _take(self, packet: av.packet.Packet, t: float, is_video: bool) -> None:
        if self.first_ts is None:
            if t < self.start:
                if is_video and packet.is_keyframe:
                    self.pending = []
                if is_video and (packet.is_keyframe or self.pending):
                    self.pending.append((packet, t))
                return
            if self.pending:
                self.first_ts = self.pending[0][1]
            elif is_video and packet.is_keyframe:
                self.first_ts = t
            else:
                return
            for held, held_t in self.pending:
                self._mux(held, held_t, True)
            self.pending = []
        if t < self.first_ts:
            return
        self._mux(packet, t, is_video)

    def _mux(self, packet: av.packet.Packet, t: float, is_video: bool) -> None:
        assert self.first_ts is not None
        if not is_video and self.transcode:
            self._transcode_audio(packet)
            return
        out = self.video_out if is_video else self.audio_out
        assert out is not None and packet.time_base is not None
        tb: Fraction = packet.time_base
        dts = round((t - self.first_ts) / tb)
        last = self.last_dts.get(out.type)
        if last is not None and dts <= last:
            dts = last + 1
        packet.dts = packet.pts = dts
        packet.stream = out
        self.out.mux(packet)
        self.last_dts[out.type] = dts
        self.last_ts = max(self.last_ts, t)
        self.video_packets += is_video

    def _transcode_audio(self, packet: av.packet.Packet) -> None:
        assert self.resampler and self.fifo is not None and self.audio_out is not None
        for frame in packet.decode():
            for resampled in self.resampler.resample(frame):
                resampled.pts = None
                self.fifo.write(resampled)
        self._drain(final=False)

    def _drain(self, final: bool) -> None:
        if not self.transcode:
            return
        assert self.fifo is not None and self.audio_out is not None
        encoder = self.audio_out.codec_context
        size = encoder.frame_size or 1024
        while self.fifo.samples >= size or (final and self.fifo.samples):
            frame = self.fifo.read(min(size, self.fifo.samples))
            frame.pts = self.audio_samples
            frame.time_base = Fraction(1, AAC_RATE)
            self.audio_samples += frame.samples
            self.out.mux(self.audio_out.encode(frame))

    def flush(self) -> None:
        self._drain(final=True)
        if self.transcode and self.audio_out is not None:
            self.out.mux(self.audio_out.encode(None))
