"""Times as people type and read them (node time zone) <-> UTC epoch seconds. Pure."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_EPOCH = re.compile(r"[0-9]{1,11}(\.[0-9]{1,6})?")
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
            "%Y-%m-%d")


def parse_time(text: str, tz: str) -> float:
    """``2026-11-22 08:00[:00]`` in ``tz``, ISO 8601 with an offset, or epoch seconds."""
    text = text.strip()
    if not text.isascii() or len(text) > 40:
        raise ValueError(f"无法识别的时间 unrecognised time {text[:40]!r} (请用半角数字 ASCII "
                         "digits, 例 e.g. 2026-11-22 08:00:00)")
    if _EPOCH.fullmatch(text):
        return float(text)
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            return moment.timestamp()
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=ZoneInfo(tz)).timestamp()
        except ValueError:
            continue
    raise ValueError(f"无法识别的时间 unrecognised time {text!r} (例 e.g. 2026-11-22 08:00:00)")


def format_time(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).astimezone(ZoneInfo(tz)).strftime(
        "%Y-%m-%d %H:%M:%S")


def local_day(ts: float, tz: str) -> tuple[float, float, str]:
    """[start, end) of the local day holding ``ts``, and its date."""
    moment = datetime.fromtimestamp(ts, ZoneInfo(tz)).replace(hour=0, minute=0, second=0,
                                                              microsecond=0)
    return moment.timestamp(), (moment + timedelta(days=1)).timestamp(), moment.strftime("%Y-%m-%d")
