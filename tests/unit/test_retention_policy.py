from hypothesis import given, strategies as st

from edge.record.index import Lock, Segment
from edge.retention.capacity import ChannelNeed, plan
from edge.retention.policy import (
    DAY_S, ChannelRule, bytes_to_free, is_locked, select_expired, select_for_space,
)

NOW = 1_000 * DAY_S
RULES = {"a": ChannelRule("a", 60, 60), "k": ChannelRule("k", 90, 90)}


def seg(i: int, channel: str, age_days: float, size: int = 100) -> Segment:
    start = NOW - age_days * DAY_S
    return Segment(i, channel, start, start + 60, f"{channel}/{i}", size, True)


def test_expiry_by_days_skips_locked_footage() -> None:
    segs = [seg(1, "a", 61), seg(2, "a", 59), seg(3, "a", 70)]
    lock = Lock(1, "a", segs[2].start_ts + 10, segs[2].start_ts + 20, "evidence")
    assert select_expired(segs, [lock], RULES["a"], NOW) == [segs[0]]


def test_space_takes_beyond_minimum_first_then_oldest() -> None:
    old_key = seg(1, "k", 95)  # beyond its 90-day minimum
    older_ord = seg(2, "a", 50)  # within its 60-day minimum
    young = seg(3, "a", 10)
    chosen = select_for_space([young, older_ord, old_key], [], RULES, 150, NOW)
    assert chosen == [old_key, older_ord]


def test_bytes_to_free_uses_the_stricter_watermark() -> None:
    gib = 1024**3
    assert bytes_to_free(100 * gib, 10 * gib, 5, 2) == 0
    assert bytes_to_free(100 * gib, 4 * gib, 5, 2) == int(gib + 0.5 * gib)
    assert bytes_to_free(10 * gib, 1 * gib, 5, 2) > gib


@given(st.lists(st.tuples(st.sampled_from("ak"), st.floats(0, 200), st.integers(1, 1000)),
                max_size=60),
       st.integers(0, 20_000), st.lists(st.floats(0, 200), max_size=3))
def test_space_never_selects_locked_and_never_keeps_older_unlocked(
    specs: list[tuple[str, float, int]], needed: int, lock_ages: list[float],
) -> None:
    segs = [seg(i, ch, age, size) for i, (ch, age, size) in enumerate(specs)]
    locks = [Lock(i, "a", NOW - age * DAY_S, NOW - age * DAY_S + 30, "") for i, age in enumerate(lock_ages)]
    chosen = select_for_space(segs, locks, RULES, needed, NOW)
    assert not any(is_locked(s, locks) for s in chosen)
    chosen_ids = {s.id for s in chosen}
    # within one channel, nothing older than a deleted segment survives unless locked
    for s in chosen:
        older = [o for o in segs if o.channel_id == s.channel_id and o.start_ts < s.start_ts]
        assert all(o.id in chosen_ids or is_locked(o, locks) for o in older)


def test_capacity_plan_scales_days_to_the_disk() -> None:
    rate = 4_000_000 / 8
    needs = [ChannelNeed("a", rate, 60, 60), ChannelNeed("k", rate, 90, 90)]
    enough = rate * DAY_S * 150
    assert [round(p.achievable_days) for p in plan(needs, enough)] == [60, 90]
    half = plan(needs, enough / 2)
    assert all(p.short for p in half)
    assert not plan([ChannelNeed("x", None, 60, 60)], 1e15)[0].measured
