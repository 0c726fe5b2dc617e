"""What was said over the loudspeakers, kept as evidence ([voice] record = true): each live
broadcast (the cascade's, the room's push-to-talk) as a WAV file of what the speaker
played, ``data_dir/voice/evidence/YYYY-MM-DD/HHMMSS-<speaker>-<source>.wav``, kept like
event data (``retention.event_days``) and named in the audit log. Announcements are files
on the box already: they are not recorded again."""

from __future__ import annotations

import logging
import re
import shutil
import time
import wave
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Collection

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

FOLDER = Path("voice") / "evidence"
RATE = 8000
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NAME = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})-([0-9]{20})-([0-9A-Za-z_.-]{1,40})\.wav")
WAV_HEADER = 44  # what wave writes before the samples (mono, 16-bit PCM)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One kept recording, as its path names it."""

    day: str  # YYYY-MM-DD, the box's local date
    name: str
    time: str  # HH:MM:SS, local
    speaker: str
    source: str  # as the file name keeps it (``gb28181_<platform>``, ``web_<user>``)
    seconds: float  # from the file's size: a recording still going on has no length yet

    @property
    def rel(self) -> str:
        return f"{FOLDER.as_posix()}/{self.day}/{self.name}"

    @property
    def ts(self) -> float:
        """When it began: the name is in the box's local time, as the daemon wrote it (the
        web UI shows it in the node's time zone, like the audit log beside it)."""
        return datetime.strptime(f"{self.day} {self.time}", "%Y-%m-%d %H:%M:%S").timestamp()

    @property
    def source_shown(self) -> str:
        """``web_oper`` -> ``web:oper``, as the audit log names the source."""
        return self.source.replace("_", ":", 1)


def find(data_dir: Path, day: str, name: str) -> Evidence | None:
    """The recording ``day/name`` if the names are a recording's and it is on the disk."""
    found = _NAME.fullmatch(name)
    path = Path(data_dir) / FOLDER / day / name
    if not _DAY.fullmatch(day) or not found or not path.is_file():
        return None
    hh, mm, ss, speaker, source = found.groups()
    size = path.stat().st_size
    return Evidence(day, name, f"{hh}:{mm}:{ss}", speaker, source,
                    max(0, size - WAV_HEADER) / (2 * RATE))


def of_path(data_dir: Path, rel: str) -> Evidence | None:
    """The recording an audit entry names (``voice/evidence/DAY/NAME``), if still kept."""
    parts = rel.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != FOLDER.as_posix():
        return None
    return find(data_dir, parts[2], parts[3])


def listing(data_dir: Path, speakers: Collection[str], limit: int) -> list[Evidence]:
    """The newest ``limit`` recordings of ``speakers``, newest first."""
    folder = Path(data_dir) / FOLDER
    days = sorted((d.name for d in folder.iterdir() if _DAY.fullmatch(d.name)),
                  reverse=True) if folder.is_dir() else []
    out: list[Evidence] = []
    for day in days:
        for name in sorted((p.name for p in (folder / day).iterdir()), reverse=True):
            item = find(data_dir, day, name)
            if item is not None and item.speaker in speakers:
                out.append(item)
                if len(out) == limit:
                    return out
    return out


class Recording:
    """One claim's audio; a failed disk ends the recording, never the broadcast."""

    def __init__(self, data_dir: Path, speaker_id: str, source: str) -> None:
        now = datetime.now()
        safe = re.sub(r"[^0-9A-Za-z_.-]", "_", source)[:40]
        self.rel = FOLDER / now.strftime("%Y-%m-%d") / f"{now:%H%M%S}-{speaker_id}-{safe}.wav"
        self.path = Path(data_dir) / self.rel
        self._out: wave.Wave_write | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = wave.open(str(self.path), "wb")
            self._out.setnchannels(1)
            self._out.setsampwidth(2)
            self._out.setframerate(RATE)
        except OSError as exc:
            logger.error("speaker=%s cannot record the broadcast to %s: %s", speaker_id,
                         self.path, exc)
            self._out = None

    def write(self, samples: np.ndarray) -> None:
        if self._out is None:
            return
        try:
            self._out.writeframes(samples.astype("<i2").tobytes())
        except OSError as exc:
            logger.error("recording %s stopped: %s", self.path, exc)
            self.close()

    def close(self) -> None:
        if self._out is not None:
            try:
                self._out.close()
            except OSError as exc:
                logger.error("recording %s not closed cleanly: %s", self.path, exc)
            self._out = None


def purge(data_dir: Path, keep_days: int, today: date | None = None) -> int:
    """Delete the day folders older than ``keep_days``; how many."""
    folder = Path(data_dir) / FOLDER
    if not folder.is_dir():
        return 0
    oldest = (today or date.fromtimestamp(time.time())) - timedelta(days=keep_days)
    gone = 0
    for day in folder.iterdir():
        if day.is_dir() and _DAY.fullmatch(day.name) and day.name < oldest.isoformat():
            shutil.rmtree(day, ignore_errors=True)
            gone += 1
    return gone
