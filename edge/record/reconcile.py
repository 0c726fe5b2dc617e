"""Start-up reconciliation: make segment files and the index agree again after a crash.

- rows still marked incomplete: the file is cut back to its last complete fragment,
  measured, and the row completed (or both removed when nothing is playable);
- segment files without a row (index lost or restored from backup) in the last
  ``RECENT_DAYS`` day folders: repaired the same way and indexed;
- rows of those days whose file is gone: removed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av

from edge.record.fmp4 import HEADER_PEEK, Box, complete_length, parse_box_header
from edge.record.index import Index
from edge.record.naming import RECORDINGS_DIR, start_from_path

logger = logging.getLogger(__name__)

RECENT_DAYS = 2


@dataclass
class ReconcileReport:
    repaired: int = 0
    indexed: int = 0
    removed_rows: int = 0
    removed_files: int = 0
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MediaFacts:
    duration_s: float
    size: int
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None


def reconcile(index: Index, channel_ids: list[str], now: float) -> ReconcileReport:
    report = ReconcileReport()
    for seg in index.segments(incomplete_only=True):
        path = index.absolute(seg)
        facts = repair_file(path) if path.exists() else None
        if facts is None:
            index.delete_segments([seg.id])
            _unlink(path, report)
            report.removed_rows += 1
            report.details.append(f"channel={seg.channel_id} removed unplayable {seg.path}")
            continue
        index.update_segment(seg.id, seg.start_ts + facts.duration_s, facts.size, True)
        report.repaired += 1
        report.details.append(
            f"channel={seg.channel_id} repaired {seg.path}: kept {facts.duration_s:.1f} s"
        )
    for channel in channel_ids:
        _reconcile_recent(index, channel, now, report)
    return report


def _reconcile_recent(index: Index, channel: str, now: float, report: ReconcileReport) -> None:
    known = index.known_paths(channel)
    base = index.data_dir / RECORDINGS_DIR / channel
    today = datetime.fromtimestamp(now, timezone.utc).date()
    for back in range(RECENT_DAYS):
        day_dir = base / (today - timedelta(days=back)).isoformat()
        if not day_dir.is_dir():
            continue
        for path in sorted(day_dir.iterdir()):
            start = start_from_path(path)
            if start is None or index.relative(path) in known:
                continue
            facts = repair_file(path)
            if facts is None:
                _unlink(path, report)
                continue
            seg_id = index.add_segment(
                channel, start, path, video_codec=facts.video_codec,
                audio_codec=facts.audio_codec, width=facts.width, height=facts.height,
            )
            index.update_segment(seg_id, start + facts.duration_s, facts.size, True)
            report.indexed += 1
            report.details.append(f"channel={channel} indexed orphan {path.name}")
    since = datetime.combine(today - timedelta(days=RECENT_DAYS - 1), datetime.min.time(),
                             timezone.utc).timestamp()
    gone = [s.id for s in index.segments(channel, since) if not index.absolute(s).exists()]
    if gone:
        index.delete_segments(gone)
        report.removed_rows += len(gone)
        report.details.append(f"channel={channel} removed {len(gone)} rows whose files are gone")


def repair_file(path: Path) -> MediaFacts | None:
    """Cut ``path`` back to its complete fragments and measure it; None if unplayable."""
    size = path.stat().st_size
    keep, fragments = complete_length(read_boxes(path, size), size)
    if fragments == 0:
        return None
    if keep < size:
        os.truncate(path, keep)
    return measure(path)


def read_boxes(path: Path, size: int) -> list[Box]:
    boxes: list[Box] = []
    with path.open("rb") as f:
        offset = 0
        while offset < size:
            f.seek(offset)
            box = parse_box_header(f.read(HEADER_PEEK), offset, size)
            if box is None:
                break
            boxes.append(box)
            offset = box.end
    return boxes


def measure(path: Path) -> MediaFacts | None:
    """Duration from the packets really in the file (the header may be stale)."""
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            end = 0.0
            for packet in container.demux():
                if packet.pts is None or packet.time_base is None:
                    continue
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except (av.FFmpegError, OSError) as exc:
        logger.warning("cannot read %s: %s", path, exc)
        return None
    if video is None or end <= 0:
        return None
    return MediaFacts(
        duration_s=end, size=path.stat().st_size,
        video_codec=video.codec_context.name, audio_codec=audio.codec_context.name if audio else None,
        width=video.codec_context.width, height=video.codec_context.height,
    )


def _unlink(path: Path, report: ReconcileReport) -> None:
    try:
        path.unlink()
        report.removed_files += 1
    except FileNotFoundError:
        pass
