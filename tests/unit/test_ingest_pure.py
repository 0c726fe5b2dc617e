import random

import pytest

from hypothesis import given, strategies as st

from edge.ingest.backoff import Backoff
from edge.ingest.rate import RateMeter
from edge.ingest.state import CameraState
from edge.ingest.timeline import Timeline


def test_backoff_grows_with_outage_and_caps_at_30s() -> None:
    rng = random.Random(1)
    b = Backoff()
    assert 0.8 <= b.next_delay(100.0, rng) <= 1.2
    assert 0.8 <= b.next_delay(110.0, rng) <= 1.5  # 10 s outage: still about a second
    assert 24 <= b.next_delay(1000.0, rng) <= 36
    b.reset()
    assert b.next_delay(2000.0, rng) <= 1.2


def test_timeline_follows_pts_spacing_and_anchors_to_arrival() -> None:
    tl = Timeline()
    assert tl.to_wall(0, 5.0, 1000.0) == 1000.0
    assert tl.to_wall(0, 5.04, 1000.3) == 1000.04  # arrival jitter ignored
    assert tl.to_wall(1, 5.02, 1000.3) == 1000.02  # audio shares the offset


def test_timeline_reanchors_on_camera_clock_jump() -> None:
    tl = Timeline()
    tl.to_wall(0, 5.0, 1000.0)
    t = tl.to_wall(0, 86_405.0, 1000.1)  # camera clock jumped a day ahead
    assert t == 1000.1
    assert tl.to_wall(0, 86_405.04, 1000.2) == pytest.approx(1000.14)
    assert tl.reanchors == 1


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200))
def test_timeline_never_goes_backwards(pts: list[float]) -> None:
    tl = Timeline()
    last = None
    for i, p in enumerate(pts):
        t = tl.to_wall(0, p, 1000.0 + i * 0.04)
        assert last is None or t >= last
        last = t


def test_rate_meter_measures_fps_and_bitrate() -> None:
    m = RateMeter()
    for i in range(125):  # 5 s at 25 fps, 5000 bytes a frame
        m.add(i * 0.04, 5000, True)
    fps, bps = m.rates(5.0)
    assert 24 <= fps <= 26
    assert 0.95 * 1_000_000 <= bps <= 1.05 * 1_000_000


def test_reconnects_counted_over_the_last_hour() -> None:
    s = CameraState("x")
    for t in (0.0, 100.0, 3000.0):
        s.note_reconnect(t)
    assert s.to_dict(3650.0)["reconnects_last_hour"] == 2


def test_untimed_first_keyframe_gets_arrival_time_then_timed_packets_follow() -> None:
    tl = Timeline()
    assert tl.untimed(0, 1000.0) == 1000.0  # first keyframe, no pts yet
    t = tl.to_wall(0, 0.04, 1000.04)
    assert t == pytest.approx(1000.04)
    assert tl.untimed(0, 1009.0) == pytest.approx(1000.041)  # mid-stream: right after the last


def test_stream_with_unrelated_start_clock_anchors_itself() -> None:
    tl = Timeline()
    assert tl.to_wall(1, 100.0, 1000.0) == 1000.0  # audio anchors the shared offset
    key = tl.untimed(0, 1000.02)  # first video keyframe, no timestamp yet
    t = tl.to_wall(0, 101.06, 1000.06)  # video clock 1 s away from audio's
    assert t == pytest.approx(1000.06) and t - key < 0.1
    assert tl.to_wall(1, 100.04, 1000.04) == pytest.approx(1000.04)  # audio unchanged
    assert tl.reanchors == 0
