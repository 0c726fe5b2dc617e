"""When announcements play: once at a local date and time, every day, or on weekdays at a
local time. Pure.

A schedule fires when one of its times falls in the window the scheduler looked at,
(since, now]: a box that was off at the time does not play it late (a loudspeaker at
04:00 instead of 20:00 is worse than none), a window is never looked at twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge.errors import EdgeError

KINDS = ("once", "daily", "weekdays")
MAX_REPEAT = 10
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DATETIME = re.compile(r"(20[0-9]{2})-([01][0-9])-([0-3][0-9])[T ]([01][0-9]|2[0-3]):([0-5][0-9])")
MAX_WINDOW_S = 300.0  # a scheduler that stalled longer plays nothing it missed


class ScheduleError(EdgeError):
    """A schedule the room asked for that cannot be kept, with a message for the page."""


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    announcement: str
    speakers: tuple[str, ...]
    kind: str  # once, daily, weekdays
    at: str  # "HH:MM", or "YYYY-MM-DDTHH:MM" for once
    repeat: int = 1
    created_by: str = ""


def check(kind: str, at: str, repeat: int) -> None:
    """Raises ScheduleError naming what is wrong (Chinese first)."""
    if kind not in KINDS:
        raise ScheduleError(f"播放方式无效 kind must be one of {', '.join(KINDS)}")
    pattern = _DATETIME if kind == "once" else _TIME
    if not pattern.fullmatch(at):
        raise ScheduleError("时间格式应为 time must be " +
                            ("YYYY-MM-DDTHH:MM" if kind == "once" else "HH:MM"))
    if kind == "once":
        try:
            datetime.fromisoformat(at.replace(" ", "T"))
        except ValueError:
            raise ScheduleError(f"日期无效 no such date: {at}") from None
    if not 1 <= repeat <= MAX_REPEAT:
        raise ScheduleError(f"重复次数应为 1–{MAX_REPEAT}  repeat must be 1..{MAX_REPEAT}")


def due(schedule: Schedule, since: float, now: float, timezone: str) -> bool:
    """Whether one of the schedule's times is in (since, now]."""
    if now <= since:
        return False
    since = max(since, now - MAX_WINDOW_S)
    tz = ZoneInfo(timezone)
    if schedule.kind == "once":
        when = datetime.fromisoformat(schedule.at.replace(" ", "T")).replace(tzinfo=tz)
        return since < when.timestamp() <= now
    hour, minute = (int(p) for p in schedule.at.split(":"))
    day = datetime.fromtimestamp(since, tz).date()
    last = datetime.fromtimestamp(now, tz).date()
    while day <= last:
        when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
        if since < when.timestamp() <= now and (schedule.kind == "daily"
                                                  or when.weekday() < 5):
            return True
        day += timedelta(days=1)
    return False
