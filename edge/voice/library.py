"""The announcements on the box and their schedules, under ``data_dir/voice``.

An uploaded file (MP3, WAV, AAC/M4A ...) is decoded and resampled once, at upload, to
what every speaker takes (16-bit mono PCM at 8 kHz): playing never transcodes. The
upload is bounded in bytes before it is decoded and in seconds while it is; a file that
is not audio is refused with a message, nothing is left on disk.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from edge.errors import EdgeError
from edge.voice.schedule import Schedule, ScheduleError, check
from edge.voice.speaker import RATE

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_SECONDS = 600  # ten minutes: an announcement, not a programme
MAX_ANNOUNCEMENTS = 100
MAX_SCHEDULES = 50
MAX_NAME = 60


class LibraryError(EdgeError):
    """An upload or a request the page shows as it is."""


@dataclass(frozen=True, slots=True)
class Announcement:
    id: str
    name: str
    seconds: float
    uploaded_by: str
    uploaded_ts: float


def transcode(data: bytes, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Any audio FFmpeg reads, as int16 mono samples at 8 kHz."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise LibraryError(f"文件过大 file of {len(data) // 1024} KB exceeds "
                           f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    parts: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.audio:
                raise LibraryError("文件中没有音频 the file has no audio")
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                    total += parts[-1].size
                if total > max_seconds * RATE:
                    raise LibraryError(f"音频过长 longer than {max_seconds // 60:.0f} minutes")
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except (av.FFmpegError, ValueError) as exc:
        raise LibraryError(f"不是可用的音频文件 not an audio file we can read: {exc}") from None
    samples = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    if samples.size < RATE // 10:
        raise LibraryError("音频太短 shorter than 0.1 s")
    return samples.astype(np.int16)


class Library:
    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / "voice"

    def add(self, name: str, data: bytes, user: str) -> Announcement:
        name = " ".join(name.split())[:MAX_NAME] or "announcement"
        if len(self.announcements()) >= MAX_ANNOUNCEMENTS:
            raise LibraryError(f"已有 {MAX_ANNOUNCEMENTS} 条广播录音 {MAX_ANNOUNCEMENTS} "
                               "announcements already: delete one first")
        samples = transcode(data)
        item = Announcement(secrets.token_hex(6), name, round(samples.size / RATE, 1), user,
                            time.time())
        self.folder.mkdir(parents=True, exist_ok=True)
        _write(self.folder / f"{item.id}.pcm", samples.tobytes())
        _write(self.folder / f"{item.id}.json", json.dumps(asdict(item),
                                                          ensure_ascii=False).encode())
        return item

    def announcements(self) -> list[Announcement]:
        out = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            if path.name == "schedules.json":
                continue
            try:
                out.append(Announcement(**json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, TypeError) as exc:
                logger.warning("voice: announcement %s unreadable: %s", path.name, exc)
        return sorted(out, key=lambda a: a.uploaded_ts)

    def get(self, announcement_id: str) -> Announcement | None:
        return next((a for a in self.announcements() if a.id == announcement_id), None)

    def samples(self, announcement_id: str) -> np.ndarray:
        if self.get(announcement_id) is None:
            raise LibraryError(f"没有这条广播录音 no announcement {announcement_id[:20]!r}")
        data = (self.folder / f"{announcement_id}.pcm").read_bytes()
        return np.frombuffer(data[:len(data) // 2 * 2], dtype=np.int16)

    def delete(self, announcement_id: str) -> None:
        if self.get(announcement_id) is None:
            raise LibraryError(f"没有这条广播录音 no announcement {announcement_id[:20]!r}")
        for suffix in (".json", ".pcm"):
            (self.folder / f"{announcement_id}{suffix}").unlink(missing_ok=True)
        self.save_schedules([s for s in self.schedules() if s.announcement != announcement_id])

    # -- schedules --------------------------------------------------------------------

    def schedules(self) -> list[Schedule]:
        path = self.folder / "schedules.json"
        try:
            raw = json.loads(path.read_text("utf-8"))
            return [Schedule(**{**s, "speakers": tuple(s["speakers"])}) for s in raw]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.error("voice: %s unreadable, no announcement is scheduled: %s", path, exc)
            return []

    def add_schedule(self, announcement: str, speakers: tuple[str, ...], kind: str, at: str,
                     repeat: int, user: str) -> Schedule:
        check(kind, at, repeat)
        if self.get(announcement) is None:
            raise ScheduleError(f"没有这条广播录音 no announcement {announcement[:20]!r}")
        if not speakers:
            raise ScheduleError("请选择扬声器 choose at least one speaker")
        schedules = self.schedules()
        if len(schedules) >= MAX_SCHEDULES:
            raise ScheduleError(f"定时播放已达 {MAX_SCHEDULES} 条 {MAX_SCHEDULES} schedules "
                                "already")
        item = Schedule(secrets.token_hex(6), announcement, speakers, kind, at, repeat, user)
        self.save_schedules([*schedules, item])
        return item

    def delete_schedule(self, schedule_id: str) -> bool:
        schedules = self.schedules()
        kept = [s for s in schedules if s.id != schedule_id]
        self.save_schedules(kept)
        return len(kept) != len(schedules)

    def save_schedules(self, schedules: list[Schedule]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _write(self.folder / "schedules.json",
               json.dumps([asdict(s) for s in schedules], ensure_ascii=False).encode())


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all (a power cut while writing leaves the old file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
