import pytest

from edge.gb28181.timesync import CLOCK_UNSET_BEFORE, MAX_STEP_S, decide_step

NOW = CLOCK_UNSET_BEFORE + 600 * 86_400  # some day in 2026


@pytest.mark.parametrize("offset, step, reason", [
    (0.4, 0.0, "within 1 s"),
    (-1.0, 0.0, "within 1 s"),
    (3.5, 3.5, "+3.5 s"),
    (-MAX_STEP_S, -MAX_STEP_S, "-600.0 s"),
    (8 * 3600, 0.0, "refused: +28800 s is more than 600 s"),  # a platform set to UTC
    (-NOW + 10, 0.0, "refused: the platform's clock is before 2025"),
])
def test_steps_are_bounded(offset: float, step: float, reason: str) -> None:
    decision = decide_step(offset, NOW)
    assert decision.step_s == step and decision.reason.startswith(reason)


def test_a_clock_that_was_never_set_is_stepped_all_the_way() -> None:
    booted_in_1970 = 120.0
    decision = decide_step(NOW - booted_in_1970, booted_in_1970)
    assert decision.step_s == NOW - booted_in_1970 and "never set" in decision.reason
