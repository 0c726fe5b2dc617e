"""What a query string or a path may carry, parsed once and bounded (issue 22, finding 9):
dates of this era in the node's time zone, months, and row IDs that fit SQLite's integer.
Pure; everything else is ``ParamError`` with a message naming the field, which the web
UI answers as a 400."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge.digits import is_digits
from edge.errors import EdgeError

FIRST_YEAR, LAST_YEAR = 2000, 2099  # footage of this era; beyond is a typo or an attack
MAX_ID = 2**63 - 1  # SQLite's INTEGER


class ParamError(EdgeError):
    """A request parameter that is malformed or out of range; the message is for people."""


def parse_day(text: str | None, tz: str, name: str) -> tuple[float, float, str] | None:
    """[start, end) of a local day ``YYYY-MM-DD`` and the day itself; None when absent."""
    if not text:
        return None
    moment = _date(text, "%Y-%m-%d", name, "YYYY-MM-DD").replace(tzinfo=ZoneInfo(tz))
    return moment.timestamp(), (moment + timedelta(days=1)).timestamp(), moment.strftime("%Y-%m-%d")


def parse_month(text: str | None, tz: str, name: str) -> tuple[float, float, str] | None:
    """[start, end) of a local month ``YYYY-MM``; None when absent."""
    if not text:
        return None
    first = _date(text, "%Y-%m", name, "YYYY-MM").replace(tzinfo=ZoneInfo(tz))
    after = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return first.timestamp(), after.timestamp(), first.strftime("%Y-%m")


def parse_id(text: str | None, name: str) -> int | None:
    """A row ID (ASCII digits, at most SQLite's largest integer); None when absent."""
    if text is None or text == "":
        return None
    if not is_digits(text) or len(text) > 19 or int(text) > MAX_ID:
        raise ParamError(f"{name}: 不是有效编号 not a valid ID ({text[:24]!r})")
    return int(text)


def _date(text: str, fmt: str, name: str, shape: str) -> datetime:
    if len(text) > len(shape) or not all(c.isascii() for c in text):
        raise ParamError(f"{name}: 日期格式应为 the date must be {shape} ({text[:24]!r})")
    try:
        moment = datetime.strptime(text, fmt)
    except ValueError as exc:
        raise ParamError(f"{name}: 日期格式应为 the date must be {shape} ({text[:24]!r})") from exc
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ParamError(f"{name}: 年份应在 the year must be within {FIRST_YEAR}-{LAST_YEAR}")
    return moment
