from pathlib import Path

from hypothesis import given, strategies as st

from edge.record.coverage import clip, gaps_between, merge_ranges
from edge.record.fmp4 import Box, complete_length, parse_box_header
from edge.record.naming import container_for, segment_path, start_from_path
from edge.record.segmenter import Decision, Segmenter
from edge.timefmt import format_time, parse_time


def test_segment_path_round_trip() -> None:
    path = segment_path(Path("/d"), "34020000001320000001", 1_763_800_000.123, "mp4")
    assert str(path) == "/d/recordings/34020000001320000001/2025-11-22/082640_123.mp4"
    assert abs(start_from_path(path) - 1_763_800_000.123) < 1e-6
    assert start_from_path(Path("/d/x/2025-11-22/notes.txt")) is None


def test_g711_goes_to_mov_everything_else_to_mp4() -> None:
    assert container_for("pcm_alaw") == "mov" and container_for("pcm_mulaw") == "mov"
    assert container_for("aac") == "mp4" and container_for(None) == "mp4"


def test_segmenter_waits_for_keyframe_then_cuts_at_aligned_boundary() -> None:
    s = Segmenter(segment_s=60, max_gap_s=100)  # big steps below are not holes
    assert s.decide(100.0, True, False) is Decision.SKIP
    assert s.decide(100.1, False, False) is Decision.SKIP
    assert s.decide(100.2, True, True) is Decision.OPEN
    assert s.cut_at == 180.0  # 120 is under half a segment away
    assert s.decide(150.0, True, True) is Decision.WRITE
    assert s.decide(180.0, False, False) is Decision.WRITE  # audio never cuts
    assert s.decide(180.1, True, False) is Decision.WRITE  # only keyframes cut
    assert s.decide(181.0, True, True) is Decision.OPEN
    assert s.cut_at == 240.0


def test_segmenter_closes_on_a_hole_in_time() -> None:
    s = Segmenter(segment_s=60)
    s.decide(10.0, True, True)
    assert s.decide(15.0, True, False) is Decision.CLOSE
    assert s.decide(15.04, True, False) is Decision.SKIP
    assert s.decide(15.08, True, True) is Decision.OPEN


@given(st.lists(st.tuples(st.floats(0, 0.5), st.booleans(), st.booleans()), max_size=300))
def test_segments_always_start_on_a_video_keyframe(steps: list[tuple[float, bool, bool]]) -> None:
    s = Segmenter(segment_s=10)
    t = 0.0
    for dt, is_video, key in steps:
        t += dt
        if s.decide(t, is_video, key) is Decision.OPEN:
            assert is_video and key


def _box(kind: bytes, payload: int) -> bytes:
    return (8 + payload).to_bytes(4, "big") + kind + b"\0" * payload


def _boxes(data: bytes) -> list[Box]:
    out, offset = [], 0
    while offset < len(data):
        box = parse_box_header(data[offset:offset + 16], offset, len(data))
        if box is None:
            break
        out.append(box)
        offset = box.end
    return out


def test_complete_length_keeps_whole_fragments_only() -> None:
    head = _box(b"ftyp", 16) + _box(b"moov", 100)
    frag = _box(b"moof", 40) + _box(b"mdat", 1000)
    data = head + frag + frag + _box(b"moof", 40) + _box(b"mdat", 1000)[:300]
    assert complete_length(_boxes(data), len(data)) == (len(head) + 2 * len(frag), 2)
    assert complete_length(_boxes(head), len(head)) == (len(head), 0)
    closed = head + frag + _box(b"mfra", 30)
    assert complete_length(_boxes(closed), len(closed)) == (len(closed), 1)


def test_box_header_rejects_garbage_and_reads_64bit_sizes() -> None:
    assert parse_box_header(b"\0\0\0\x04abcd", 0, 100) is None
    assert parse_box_header(b"\xff\xff\xff\xff\x00\x01\x02\x03", 0, 100) is None
    big = (1).to_bytes(4, "big") + b"mdat" + (2**33).to_bytes(8, "big")
    assert parse_box_header(big, 0, 2**34) == Box(0, 2**33, "mdat")


def test_merge_ranges_and_gaps() -> None:
    ranges = merge_ranges([(0, 60), (60.04, 120), (130, 190), (189, 200)])
    assert [(r.start, r.end) for r in ranges] == [(0, 120), (130, 200)]
    assert [(g.start, g.end) for g in gaps_between(ranges)] == [(120, 130)]
    assert [(r.start, r.end) for r in clip(ranges, 100, 140)] == [(100, 120), (130, 140)]


def test_time_parsing_in_node_time_zone() -> None:
    t = parse_time("2026-11-22 08:00:00", "Asia/Shanghai")
    assert t == parse_time("2026-11-22T00:00:00+00:00", "Asia/Shanghai") == parse_time(str(t), "UTC")
    assert format_time(t, "Asia/Shanghai") == "2026-11-22 08:00:00"
