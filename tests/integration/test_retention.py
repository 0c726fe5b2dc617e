"""Retention against a real small filesystem (tmpfs) and a real SQLite index."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest

from edge.config import parse
from edge.record.index import Index
from edge.record.naming import segment_path
from edge.retention.manager import ALARM_BELOW_MINIMUM, RetentionManager
from edge.retention.policy import DAY_S
from tests.conftest import tmpfs

MB = 1024**2
NOW = 2_000_000_000.0
ORD, KEY = "34020000001320000001", "34020000001320000002"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "64m") as mount:
        yield mount


def _config(data_dir: Path, min_free_gb: float) -> object:
    return parse({
        "node": {"id": "34020000001180000001", "data_dir": str(data_dir)},
        "storage": {"min_free_percent": 0.0, "min_free_gb": min_free_gb},
        "cameras": [
            {"id": ORD, "name": "普通", "url": "rtsp://127.0.0.1/a", "retention_days": 120},
            {"id": KEY, "name": "重点", "url": "rtsp://127.0.0.1/b", "key_area": True},
        ],
    })


def _segment(index: Index, channel: str, age_days: float, size: int) -> int:
    start = NOW - age_days * DAY_S
    path = segment_path(index.data_dir, channel, start, "mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    seg_id = index.add_segment(channel, start, path, video_codec="h264", audio_codec=None,
                               width=640, height=360)
    index.update_segment(seg_id, start + 60, size, True)
    return seg_id


def test_watermark_deletes_oldest_unlocked_and_raises_legal_minimum_alarm(small_fs: Path) -> None:
    index = Index(small_fs)
    # the ordinary channel keeps 120 days: its 70-day-old segment is not expired but is
    # beyond its 60-day legal minimum, so it goes first
    ord_ids = [_segment(index, ORD, age, 8 * MB) for age in (70, 30, 20, 10)]
    key_ids = [_segment(index, KEY, age, 8 * MB) for age in (50, 40, 5)]
    locked = key_ids[0]
    index.add_lock(KEY, NOW - 50 * DAY_S, NOW - 50 * DAY_S + 30, "案件证据 evidence")
    # 56 MB of footage on 64 MB: ask for 24 MB free
    manager = RetentionManager(_config(small_fs, 24 / 1024), threading.Event())
    result = manager.run_once(index, NOW)

    deleted = {s.id for s in result.for_space}
    assert locked not in deleted
    # beyond-minimum footage first (ORD 61 days), then oldest first across channels
    assert [s.id for s in result.for_space][:1] == [ord_ids[0]]
    assert key_ids[1] in deleted and ord_ids[1] in deleted
    assert key_ids[2] not in deleted and ord_ids[3] not in deleted
    remaining = {s.id for s in index.segments()}
    assert remaining.isdisjoint(deleted) and locked in remaining
    for seg in result.for_space:
        assert not (small_fs / seg.path).exists()
    alarms = {a.channel_id: a for a in index.alarms()}
    assert set(alarms) == {ORD, KEY}
    assert alarms[ORD].kind == ALARM_BELOW_MINIMUM and "低于法定最低 60 天" in alarms[ORD].message
    index.close()


def test_expiry_by_days_with_injected_clock(tmp_path: Path) -> None:
    index = Index(tmp_path)
    ord_ids = [_segment(index, ORD, age, 1000) for age in (121, 119)]  # keeps 120 days
    key_ids = [_segment(index, KEY, age, 1000) for age in (91, 80, 95)]
    index.add_lock(KEY, NOW - 95 * DAY_S, NOW - 95 * DAY_S + 10, "")
    manager = RetentionManager(_config(tmp_path, 0.0), threading.Event())
    result = manager.run_once(index, NOW)
    assert sorted(s.id for s in result.expired) == [ord_ids[0], key_ids[0]]
    assert not result.for_space and not index.alarms()
    later = manager.run_once(index, NOW + 60 * DAY_S)
    assert sorted(s.id for s in later.expired) == [ord_ids[1], key_ids[1]]
    assert {s.id for s in index.segments()} == {key_ids[2]}  # locked: kept forever
    index.close()


def test_event_pictures_are_kept_a_year_then_deleted_with_their_crops(tmp_path: Path) -> None:
    index = Index(tmp_path)
    rows = {}
    for age in (400, 364):
        rel = f"snapshots/{ORD}/x/{age}.jpg"
        picture = tmp_path / rel
        picture.parent.mkdir(parents=True, exist_ok=True)
        picture.write_bytes(b"\xff\xd8")
        picture.with_suffix(".crop.jpg").write_bytes(b"\xff\xd8")
        rows[age] = index.add_event(ORD, NOW - age * DAY_S, "detection", {"label": "person"},
                                    rel)
    RetentionManager(_config(tmp_path, 0.0), threading.Event()).run_once(index, NOW)
    assert index.event(rows[400]) is None and index.event(rows[364]) is not None
    assert sorted(p.name for p in (tmp_path / "snapshots").rglob("*.jpg")) == \
        ["364.crop.jpg", "364.jpg"]
    index.close()
