"""Arming schedules and quiet hours: weekly ranges across midnight, days, bad ranges."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge.timeranges import RangeError, check_range, in_ranges, parse_range

FRI = datetime(2026, 12, 4)  # a Friday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """``day`` days after that Friday, local time."""
    return FRI.replace(day=4 + day, hour=hour, minute=minute)


def test_a_night_range_crosses_midnight_every_day() -> None:
    night = ("22:00-06:00",)
    assert in_ranges(night, at(0, 23, 59)) and in_ranges(night, at(1, 0))
    assert in_ranges(night, at(1, 5, 59)) and in_ranges(night, at(0, 22))
    assert not in_ranges(night, at(1, 6)) and not in_ranges(night, at(0, 21, 59))
    assert in_ranges(("12:00-13:00",), at(0, 12, 30)) and not in_ranges(("12:00-13:00",),
                                                                         at(0, 13))


def test_a_friday_night_ends_on_saturday_morning_and_weekends_are_whole_days() -> None:
    friday_night = ("fri 22:00-06:00",)
    assert in_ranges(friday_night, at(1, 3))  # Saturday 03:00: still Friday's night
    assert not in_ranges(friday_night, at(0, 3))  # Friday 03:00: Thursday's, not armed
    weekends = ("weekends 00:00-24:00", "mon-fri 22:00-06:00")
    assert in_ranges(weekends, at(1, 12)) and in_ranges(weekends, at(2, 23, 59))
    assert not in_ranges(weekends, at(3, 5))  # Monday 05:00: Sunday night is not armed
    assert in_ranges(weekends, at(4, 5)) and not in_ranges(weekends, at(3, 12))
    assert parse_range("sat-mon 08:00-09:00").days == {5, 6, 0}  # across the week's end
    assert parse_range("Sat,SUN 08:00-09:00").days == {5, 6}


@pytest.mark.parametrize("text, reason", [
    ("25:00-26:00", "HH:MM-HH:MM"), ("24:30-01:00", "beyond 24:00"),
    ("08:00-08:00", "empty range"), ("fri 8:00-9:00", "HH:MM-HH:MM"),
    ("someday 08:00-09:00", "unknown day 'someday'"), ("０８:00-09:00", "HH:MM-HH:MM"),
])
def test_bad_ranges_say_why(text: str, reason: str) -> None:
    assert reason in (check_range(text) or "")
    with pytest.raises(RangeError):
        parse_range(text)
    assert not in_ranges((text,), at(0, 8, 30))
