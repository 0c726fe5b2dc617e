"""Weekly time ranges: arming schedules (布防时间) and quiet hours. Pure.

A range is "HH:MM-HH:MM", optionally after the days it starts on: "22:00-06:00" (every
day, across midnight: a Friday's night ends on Saturday morning), "sat,sun 00:00-24:00",
"mon-fri 08:00-18:00", "weekdays 07:00-08:00", "weekends …", "daily …". The start is
inclusive, the end exclusive; 24:00 may end a range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GROUPS = {"daily": range(7), "weekdays": range(5), "weekends": range(5, 7)}
_TIME = r"([01][0-9]|2[0-4]):([0-5][0-9])"
_RANGE = re.compile(rf"(?:([a-z,\-]+)\s+)?{_TIME}-{_TIME}")
WEEK = 7 * 1440


class RangeError(ValueError):
    """A range that cannot be read; the message says why (Chinese first)."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    days: frozenset[int]  # 0 Monday .. 6 Sunday: the days it starts on
    start: int  # minutes after midnight
    end: int  # may be <= start: it ends on the next day

    def covers(self, weekday: int, minute: int) -> bool:
        now = weekday * 1440 + minute
        length = (self.end - self.start) % 1440 or 1440
        return any((now - (day * 1440 + self.start)) % WEEK < length for day in self.days)


def parse_range(text: str) -> TimeRange:
    match = _RANGE.fullmatch(text.strip().lower())
    if match is None:
        raise RangeError(f"应为 [星期] 时:分-时:分 must be [days ]HH:MM-HH:MM, e.g. "
                         f"\"sat,sun 22:00-06:00\", got {text[:30]!r}")
    days_text, h1, m1, h2, m2 = match.groups()
    start, end = int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)
    if start >= 1440 or end > 1440:
        raise RangeError(f"时间超出 00:00–24:00 a time beyond 24:00 in {text[:30]!r}")
    if start == end % 1440 and not (start == 0 and end == 1440):
        raise RangeError(f"起止相同 an empty range {text[:30]!r}")
    return TimeRange(_days(days_text or "daily", text), start, end)


def _days(text: str, whole: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        if part in GROUPS:
            out.update(GROUPS[part])
        elif "-" in part and all(p in DAYS for p in part.split("-", 1)):
            first, last = (DAYS.index(p) for p in part.split("-", 1))
            out.update(d % 7 for d in range(first, first + (last - first) % 7 + 1))
        elif part in DAYS:
            out.add(DAYS.index(part))
        else:
            raise RangeError(f"未知星期 unknown day {part[:10]!r} in {whole[:30]!r}: "
                             f"use {', '.join(DAYS)}, a range like mon-fri, or "
                             f"{', '.join(GROUPS)}")
    return frozenset(out)


def check_range(text: str) -> str | None:
    """Why ``text`` is not a range, or None."""
    try:
        parse_range(text)
    except RangeError as exc:
        return str(exc)
    return None


def in_ranges(ranges: tuple[str, ...], local: datetime) -> bool:
    """Whether the local time falls in one of ``ranges`` (unreadable ones never match: the
    config checker refuses them before)."""
    minute = local.hour * 60 + local.minute
    for text in ranges:
        try:
            if parse_range(text).covers(local.weekday(), minute):
                return True
        except RangeError:
            continue
    return False
