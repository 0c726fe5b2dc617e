"""Where a segment lives on disk and which container it uses. Pure.

``recordings/<channel>/<YYYY-MM-DD>/<HHMMSS>_<mmm>.<ext>`` in UTC: a node whose clock
jumps at its first time sync must never produce two files with one name, and the
index, not the file name, is what people search by.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

RECORDINGS_DIR = "recordings"
_NAME = re.compile(r"^([0-9]{6})_([0-9]{3})\.(mp4|mov)$")
# G.711 has no sample entry in ISO MP4; QuickTime MOV (same fragmented layout) has.
_MOV_AUDIO = frozenset({"pcm_alaw", "pcm_mulaw"})


def container_for(audio_codec: str | None) -> str:
    """``mp4`` (plays in a browser) unless the audio can only live in ``mov``."""
    return "mov" if audio_codec in _MOV_AUDIO else "mp4"


def segment_path(data_dir: Path, channel_id: str, start_ts: float, ext: str) -> Path:
    moment = datetime.fromtimestamp(start_ts, timezone.utc)
    millis = int(round((start_ts % 1) * 1000)) % 1000
    return (
        data_dir / RECORDINGS_DIR / channel_id / moment.strftime("%Y-%m-%d")
        / f"{moment.strftime('%H%M%S')}_{millis:03d}.{ext}"
    )


def start_from_path(path: Path) -> float | None:
    """The start time encoded in a segment's path, or None if it is not one of ours."""
    match = _NAME.match(path.name)
    if not match:
        return None
    try:
        day = datetime.strptime(path.parent.name, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    hms = match.group(1)
    seconds = int(hms[:2]) * 3600 + int(hms[2:4]) * 60 + int(hms[4:])
    return day.timestamp() + seconds + int(match.group(2)) / 1000
