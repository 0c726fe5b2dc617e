"""When announcements play (edge/voice/schedule.py, pure) and how long what was said is
kept (edge/voice/evidence.py)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge.voice.schedule import MAX_WINDOW_S, Schedule, ScheduleError, check, due

TZ = "Asia/Shanghai"
SATURDAY_20H = datetime(2026, 12, 5, 20, 0, tzinfo=ZoneInfo(TZ)).timestamp()
MONDAY_20H = SATURDAY_20H + 2 * 86400


def _s(kind: str, at: str) -> Schedule:
    return Schedule("s1", "a1", ("34020000001370000001",), kind, at)


def test_a_time_fires_once_in_the_window_that_holds_it() -> None:
    daily = _s("daily", "20:00")
    assert due(daily, SATURDAY_20H - 1, SATURDAY_20H, TZ)
    assert not due(daily, SATURDAY_20H, SATURDAY_20H + 1, TZ)  # never twice
    assert not due(daily, SATURDAY_20H - 61, SATURDAY_20H - 1, TZ)
    assert due(daily, MONDAY_20H - 0.5, MONDAY_20H + 0.5, TZ)
    weekdays = _s("weekdays", "20:00")
    assert not due(weekdays, SATURDAY_20H - 1, SATURDAY_20H, TZ)
    assert due(weekdays, MONDAY_20H - 1, MONDAY_20H, TZ)
    once = _s("once", "2026-12-05T20:00")
    assert due(once, SATURDAY_20H - 1, SATURDAY_20H, TZ)
    assert not due(once, MONDAY_20H - 1, MONDAY_20H, TZ)


def test_a_time_missed_while_off_is_not_played_late() -> None:
    daily = _s("daily", "20:00")
    assert not due(daily, SATURDAY_20H - 3600, SATURDAY_20H + 2 * MAX_WINDOW_S, TZ)


@pytest.mark.parametrize("kind, at, repeat, problem", [
    ("hourly", "20:00", 1, "kind"), ("daily", "24:00", 1, "HH:MM"),
    ("daily", "２０:００", 1, "HH:MM"), ("once", "20:00", 1, "YYYY"),
    ("once", "2026-02-30T20:00", 1, "no such date"), ("daily", "20:00", 11, "repeat"),
    ("daily", "20:00", 0, "repeat"),
])
def test_bad_schedules_say_why(kind: str, at: str, repeat: int, problem: str) -> None:
    with pytest.raises(ScheduleError, match=problem):
        check(kind, at, repeat)


def test_evidence_is_kept_for_the_event_days_then_removed(tmp_path) -> None:
    from datetime import date

    from edge.voice.evidence import FOLDER, purge

    for day in ("2025-12-04", "2025-12-05", "2026-12-05", "notes"):
        (tmp_path / FOLDER / day).mkdir(parents=True)
        (tmp_path / FOLDER / day / "x.wav").write_bytes(b"RIFF")
    assert purge(tmp_path, 365, today=date(2026, 12, 5)) == 1
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == [
        "2025-12-05", "2026-12-05", "notes"]


def test_kept_recordings_are_listed_newest_first_by_speaker(tmp_path) -> None:
    from edge.voice.evidence import FOLDER, find, listing, of_path

    a, b = "34020000001370000001", "34020000001370000002"
    files = {("2026-12-04", f"235959-{a}-web_oper.wav"): 16000,
             ("2026-12-05", f"080000-{a}-gb28181_34020000002000000001.wav"): 44 + 16000 * 3,
             ("2026-12-05", f"090000-{b}-web_gate.wav"): 44,
             ("2026-12-05", "notes.txt"): 3, ("2026-12-05", f"1-{a}-x.wav"): 3}
    for (day, name), size in files.items():
        (tmp_path / FOLDER / day).mkdir(parents=True, exist_ok=True)
        (tmp_path / FOLDER / day / name).write_bytes(b"\0" * size)
    mine = listing(tmp_path, {a}, 10)
    assert [(e.day, e.time, e.source) for e in mine] == [
        ("2026-12-05", "08:00:00", "gb28181_34020000002000000001"),
        ("2026-12-04", "23:59:59", "web_oper")]
    assert mine[0].seconds == 3.0 and mine[0].speaker == a
    assert mine[0].source_shown == "gb28181:34020000002000000001"
    assert datetime.fromtimestamp(mine[1].ts) == datetime(2026, 12, 4, 23, 59, 59)  # local
    assert [e.speaker for e in listing(tmp_path, {a, b}, 1)] == [b]  # the newest only
    assert of_path(tmp_path, mine[0].rel) == mine[0]
    for rel in ("voice/evidence/2026-12-05/notes.txt", "voice/evidence/../x.wav", "x", ""):
        assert of_path(tmp_path, rel) is None, rel
    assert find(tmp_path, "2026-12-06", f"080000-{a}-web_oper.wav") is None  # not on the disk
