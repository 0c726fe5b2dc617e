"""Frames out of recorded segments, for playback (GB/T 28181 and the web UI).

A segment is read from the keyframe at or before the requested start (the first frame a
decoder can use) to the requested end; MP4/MOV packets come back as Annex-B (the form the
live hub carries), each with its wall-clock time. A damaged tail ends the file quietly.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import av
import av.bitstream

from edge.ingest.media import KEPT_AUDIO, Frame, StreamInfo
from edge.ingest.rtsp import stream_info
from edge.record.index import Segment

logger = logging.getLogger(__name__)


def segment_frames(path: Path, seg: Segment, start: float,
                   end: float) -> Iterator[tuple[StreamInfo, Frame]]:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        logger.warning("playback: cannot open %s: %s", path, exc)
        return
    with container:
        video = container.streams.video[0]
        audio = next((s for s in container.streams.audio
                      if s.codec_context.name in KEPT_AUDIO), None)
        # MP4 extradata is avcC/hvcC, not Annex-B; the filter puts the parameter sets
        # in front of every keyframe instead
        info = replace(stream_info(video, audio), extradata=b"")
        bsf = av.bitstream.BitStreamFilterContext(f"{info.video}_mp4toannexb", in_stream=video)
        streams = [video] + ([audio] if audio else [])
        pending: list[tuple[StreamInfo, Frame]] = []  # since the last keyframe before start
        try:
            for packet in container.demux(*streams):
                if packet.pts is None or packet.size == 0:
                    continue
                t = seg.start_ts + float(packet.pts * packet.time_base)
                is_video = packet.stream.index == video.index
                key = is_video and bool(packet.is_keyframe)  # read first: the filter takes it
                if t > end:
                    if is_video:  # audio runs ahead of video in the file: not a stop sign
                        return
                    continue
                datas = [bytes(p) for p in bsf.filter(packet)] if is_video else [bytes(packet)]
                for data in datas:
                    item = (info, Frame(is_video, key, data, t))
                    if t < start:
                        if key:
                            pending = []
                        if pending or key:
                            pending.append(item)
                        continue
                    yield from pending
                    pending = []
                    yield item
        except (av.FFmpegError, OSError):
            return
