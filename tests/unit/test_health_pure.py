"""Online rate: what counts as online, offline and not observed."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.health.availability import online_rate


def test_online_rate_counts_only_observed_time() -> None:
    sessions = [(0.0, 100.0), (200.0, 300.0)]  # the node was down from 100 to 200
    changes = [(0.0, True), (50.0, False), (200.0, True)]
    got = online_rate(sessions, changes, 0.0, 300.0)
    assert got.observed_s == 200.0 and got.online_rate == pytest.approx(150 / 200)
    window = online_rate(sessions, changes, 40.0, 250.0)  # clipped to the window
    assert window.observed_s == 110.0 and window.online_rate == pytest.approx((10 + 50) / 110)


def test_never_observed_is_unknown_not_zero() -> None:
    got = online_rate([], [], 0.0, 100.0)
    assert got.online_rate is None and got.observed_s == 0.0


@given(st.lists(st.tuples(st.floats(0, 1000), st.booleans()), max_size=30),
       st.floats(0, 1000), st.floats(0, 1000))
def test_rate_is_a_fraction_of_observed_time(raw: list[tuple[float, bool]], a: float,
                                             b: float) -> None:
    changes = sorted(raw)
    got = online_rate([(0.0, 1000.0)], changes, min(a, b), max(a, b))
    assert got.observed_s == pytest.approx(max(a, b) - min(a, b))
    if got.online_rate is not None:
        assert 0.0 <= got.online_rate <= 1.0 + 1e-9
