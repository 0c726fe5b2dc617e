"""Quality diagnosis on a real picture (NASA's astronaut, public domain) made to fail in
each way a camera fails: each fault is found alone, raised after ``onset`` looks and
cleared after ``clear``; day and night keep their own baselines; accepting a new view
learns it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from edge.quality.diagnosis import FAULTS, Diagnosis, QualitySettings
from edge.quality.metrics import changed, likeness, measure
from edge.sim.clips import EFFECTS, degrade

PICTURE = Path(__file__).resolve().parents[1] / "data" / "astronaut.jpg"
FAULT_OF = {"black": "signal", "blue": "signal", "frozen": "frozen", "blur": "blur",
            "covered": "covered", "dark": "dark", "bright": "bright", "tint": "cast",
            "turned": "turned", "noise": "noise"}


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    with av.open(str(PICTURE)) as container:
        return next(container.decode(video=0)).reformat(width=640, height=480,
                                                        format="rgb24").to_ndarray()


def alive(scene: np.ndarray, i: int) -> np.ndarray:
    """The scene as a camera sends it: a little different every time (a person moving)."""
    out = np.roll(scene, i % 7, axis=1).copy()
    out[300 + 5 * (i % 9):340 + 5 * (i % 9), 40:80] = 255 - out[300:340, 40:80]
    return out


def judged(diagnosis: Diagnosis, picture: np.ndarray) -> set[str]:
    found, _ = diagnosis.judge(measure(picture))
    diagnosis.sample(measure(picture))
    return found


def test_every_effect_is_exactly_its_fault(scene: np.ndarray) -> None:
    assert set(FAULT_OF) == set(EFFECTS) and set(FAULT_OF.values()) == set(FAULTS)
    for effect, fault in FAULT_OF.items():
        d = Diagnosis(QualitySettings())
        assert all(not judged(d, alive(scene, i)) for i in range(5)), effect
        held = alive(scene, 5)
        found = [judged(d, degrade(effect, alive(scene, i), held, i)) for i in range(5, 9)]
        if effect == "frozen":  # the first frozen look is the last live one's twin only later
            found = found[1:]
        assert all(f == {fault} for f in found), (effect, found)


def test_a_fault_is_raised_after_onset_and_cleared_after_clear(scene: np.ndarray) -> None:
    d = Diagnosis(QualitySettings(onset=3, clear=2))
    for i in range(4):
        assert d.sample(measure(alive(scene, i))) == []
    dark = [d.sample(measure(degrade("dark", alive(scene, i), scene, i))) for i in range(4, 8)]
    assert [[(c.fault, c.raised) for c in changes] for changes in dark] == \
        [[], [], [("dark", True)], []]
    assert "luma" in dark[2][0].detail and d.open == {"dark"}
    back = [d.sample(measure(alive(scene, i))) for i in range(8, 11)]
    assert [[(c.fault, c.raised) for c in changes] for changes in back] == \
        [[], [("dark", False)], []]
    # one bad look between good ones never raises (no flapping)
    for i in range(11, 20):
        effect = "blur" if i % 2 else None
        picture = degrade(effect, alive(scene, i), scene, i) if effect else alive(scene, i)
        assert d.sample(measure(picture)) == []


def test_night_has_its_own_baseline(scene: np.ndarray) -> None:
    d = Diagnosis(QualitySettings())
    for i in range(4):
        judged(d, alive(scene, i))
    grey = np.repeat(alive(scene, 9).mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    assert measure(grey).night and not measure(scene).night
    assert judged(d, grey) == set()  # infrared: not a colour cast, not "turned"
    assert set(d.baselines) == {"day", "night"}


def test_accepting_a_new_view_learns_it(scene: np.ndarray) -> None:
    d = Diagnosis(QualitySettings(onset=1, clear=1))
    for i in range(4):
        d.sample(measure(alive(scene, i)))
    turned = [degrade("turned", alive(scene, i), scene, i) for i in range(4, 12)]
    assert [c.fault for c in d.sample(measure(turned[0]))] == ["turned"]
    d.accept_view()
    for picture in turned[1:5]:  # learnt again: the new view is the usual one
        d.sample(measure(picture))
    assert d.open == set()
    assert judged(d, turned[6]) == set()


def test_the_measures_themselves(scene: np.ndarray) -> None:
    m = measure(scene)
    assert m.blocks.shape == (6, 8) and m.grey.shape[1] == 320
    assert likeness(m.edges, m.edges) == pytest.approx(1.0)
    turned = measure(degrade("turned", scene, scene, 0))
    assert likeness(m.edges, turned.edges) < 0.3
    assert changed(m.grey, m.grey) == 0.0 and changed(m.grey, turned.grey) > 0.1
    assert measure(np.zeros_like(scene)).luma_std == 0.0
