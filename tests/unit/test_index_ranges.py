"""The coverage table the index keeps equals the pure merge of its segments, whatever
order segments are added, grown, cut back (repaired) and deleted (retention) in."""

from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.record.coverage import merge_ranges
from edge.record.index import SCHEMA_VERSION, Index

CH = "34020000001320000001"
ops = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 3000), st.integers(1, 400), st.booleans()),
    st.tuples(st.just("cut"), st.integers(0, 60), st.integers(0, 399), st.booleans()),
    st.tuples(st.just("delete"), st.integers(0, 60), st.integers(1, 5), st.booleans()),
), max_size=50)


def _truth(index: Index) -> list[tuple[float, float]]:
    spans = index.db.execute("SELECT start_ts, end_ts FROM segments WHERE channel_id = ?", (CH,))
    return [(r.start, r.end) for r in merge_ranges(spans.fetchall())]


@settings(max_examples=80, deadline=None)
@given(ops, st.integers(0, 3500), st.integers(0, 3500))
def test_coverage_is_the_merge_of_the_segments(steps: list[tuple[str, int, int, bool]],
                                               a: int, b: int) -> None:
    with TemporaryDirectory() as tmp:
        index = Index(Path(tmp))
        ids: list[int] = []
        for i, (op, x, y, flag) in enumerate(steps):
            if op == "add":  # half-second offsets: touching within the 1-s tolerance, or not
                start = x + (0.5 if flag else 0.0)
                seg = index.add_segment(CH, start, Path(tmp) / f"{i}.mp4", video_codec="h264",
                                        audio_codec=None, width=1, height=1)
                for end in (start + y / 2, start + y):  # grows while recording
                    index.update_segment(seg, end, 1, end == start + y)
                ids.append(seg)
            elif op == "cut" and ids:  # a repaired file is shorter than its row said
                seg = ids[x % len(ids)]
                start = index.db.execute("SELECT start_ts FROM segments WHERE id = ?",
                                         (seg,)).fetchone()
                if start:
                    index.update_segment(seg, start[0] + y / 4, 1, True)
            elif op == "delete" and ids:
                gone = ids[x % len(ids):x % len(ids) + y]
                index.delete_segments(gone)
                ids = [i for i in ids if i not in gone]
        truth = _truth(index)
        assert index.recorded_ranges(CH, 0, 1e9) == truth
        lo, hi = min(a, b), max(a, b)
        assert index.recorded_ranges(CH, lo, hi) == [r for r in truth if r[0] <= hi and r[1] >= lo]
        index.close()


def test_an_index_from_before_the_coverage_table_gets_one(tmp_path: Path) -> None:
    index = Index(tmp_path)
    for i in range(3):
        seg = index.add_segment(CH, i * 60.0, tmp_path / f"{i}.mp4", video_codec="h264",
                                audio_codec=None, width=1, height=1)
        index.update_segment(seg, i * 60.0 + 60, 1, True)
    index.db.execute("DELETE FROM coverage")  # as a version-1 file would have it
    index.db.execute("PRAGMA user_version = 1")
    index.close()
    reopened = Index(tmp_path)
    assert reopened.recorded_ranges(CH, 0, 1e9) == [(0.0, 180.0)]
    assert reopened.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    reopened.close()
