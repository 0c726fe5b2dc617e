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
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

FOLDER = Path("voice") / "evidence"
RATE = 8000
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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
