"""Tripwires and stays on real tracks (the tracker fed detections along known paths):
directions, a foot jittering on the line, pacing, going round a line's end, labels; a
person loitering and a car parked; the model kept looking at an object standing in a timed
zone; rule configs that cannot work refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import CameraConfig, DetectConfig, TripwireConfig, ZoneConfig, parse
from edge.detect.objects import Box, Detection
from edge.detect.pipeline import CameraPipeline
from edge.detect.rules import Dwell, RuleEvent, Rules, Tripwire
from edge.detect.tracker import Tracker
from edge.errors import ConfigError

# a horizontal line across the middle, drawn left to right: side A is above it
WIRE = Tripwire("河堤", (0.1, 0.5), (0.9, 0.5))


def person(x: float, foot_y: float, label: str = "person") -> Detection:
    return Detection(label, 1, 0.9, Box(x - 0.03, foot_y - 0.2, x + 0.03, foot_y))


def walk(rules: Rules, points: list[tuple[float, float]], label: str = "person",
         zones: list[str] | None = None, step_s: float = 0.2) -> list[RuleEvent]:
    """One object's feet at ``points``, one frame each; the rule events of all frames."""
    tracker = Tracker()
    out: list[RuleEvent] = []
    for i, (x, y) in enumerate(points):
        tracker.update([(person(x, y, label), zones or ["全画面"])], i * step_s)
        out += rules.check(tracker.tracks, i * step_s)
    return out


def down(x: float = 0.5) -> list[tuple[float, float]]:
    return [(x, 0.3 + 0.05 * i) for i in range(9)]  # 0.30 .. 0.70


def test_walking_down_over_the_line_is_one_a_to_b_crossing_and_up_is_b_to_a() -> None:
    events = walk(Rules((WIRE,)), down())
    assert [(e.kind, e.rule, e.direction) for e in events] == [("tripwire", "河堤", "a_to_b")]
    events = walk(Rules((WIRE,)), down()[::-1])
    assert [e.direction for e in events] == ["b_to_a"]


def test_a_one_way_line_and_its_labels() -> None:
    one_way = Tripwire("进村", (0.1, 0.5), (0.9, 0.5), "b_to_a", ("vehicle",))
    assert walk(Rules((one_way,)), down(), "vehicle") == []  # the other way
    assert len(walk(Rules((one_way,)), down()[::-1], "vehicle")) == 1
    assert walk(Rules((one_way,)), down()[::-1], "person") == []  # not a vehicle


def test_a_foot_jittering_on_the_line_crosses_nothing_and_pacing_counts_once_each_way() -> None:
    jitter = [(0.5, 0.44)] + [(0.5, 0.5 + (0.006 if i % 2 else -0.006)) for i in range(20)]
    assert walk(Rules((WIRE,)), jitter) == []
    pacing = down() + down()[::-1] + down() + down()[::-1]
    assert [e.direction for e in walk(Rules((WIRE,)), pacing)] == ["a_to_b", "b_to_a"]


def test_going_round_the_end_of_the_line_is_no_crossing() -> None:
    round_end = [(0.95, 0.3 + 0.05 * i) for i in range(9)]  # beyond x = 0.9
    assert walk(Rules((WIRE,)), round_end) == []
    slanted = Tripwire("斜", (0.2, 0.2), (0.8, 0.8))  # side A is above-right
    assert [e.direction for e in walk(Rules((slanted,)), [(0.3 + 0.05 * i, 0.7 - 0.05 * i)
                                                          for i in range(9)])] == ["b_to_a"]


def test_a_person_staying_is_loitering_once_a_car_is_parked_and_a_gap_does_not_reset() -> None:
    rules = Rules(dwells=(Dwell("校门", 10.0),))
    tracker = Tracker()
    events: list[RuleEvent] = []
    for t in range(25):
        found = [] if t in (6, 7) else [(person(0.5, 0.6), ["校门"]),
                                         (person(0.2, 0.6, "vehicle"), ["校门"])]
        tracker.update(found, float(t))  # two missed looks: the stay goes on
        events += rules.check(tracker.tracks, float(t))
    assert sorted((e.kind, e.rule, e.track.label, e.seconds) for e in events) == [
        ("loitering", "校门", "person", 10.0), ("parked", "校门", "vehicle", 10.0)]
    passing = walk(Rules(dwells=(Dwell("校门", 10.0),)), [(0.1 * i, 0.6) for i in range(9)],
                   zones=["校门"], step_s=1.0)
    assert passing == []  # 8 s in the zone


def test_an_object_standing_in_a_timed_zone_is_still_looked_at() -> None:
    """The motion gate sees nothing in a still picture; the model is asked about where the
    object stands until its stay is an event."""
    looked: list[Box] = []

    def model(rgb: np.ndarray, region: Box) -> list[Detection]:
        looked.append(region)
        return [person(0.5, 0.8)]

    zone = ZoneConfig("校门", ((0.3, 0.5), (0.7, 0.5), (0.7, 1.0), (0.3, 1.0)), dwell_seconds=5)
    cam = CameraConfig("34020000001320000001", "a", "rtsp://x/", detect=True, zones=(zone,))
    pipe = CameraPipeline(cam, DetectConfig(fps=1), model, 1.0)
    picture = np.full((360, 640, 3), 90, np.uint8)
    picture[150:290, 300:340] = 250
    pipe.frame(np.full((360, 640, 3), 90, np.uint8), 0.0)
    events = []
    for t in range(1, 10):  # someone walks in and stands still
        events += pipe.frame(picture, float(t))[1]
    assert [(e.kind, e.rule) for e in events] == [("loitering", "校门")]
    assert events[0].seconds == 5.0 and len(looked) == 9  # every second, still or not
    b = looked[-1]  # around where it stands
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((0.41, 0.4, 0.59, 1.0))


def test_a_camera_is_looked_at_often_only_while_someone_nears_its_line() -> None:
    """A sub stream at 5 fps: a person far from the line is looked at once a second —
    nearing it slowly too (0.03 of the picture a second: under a twentieth between calm
    looks) — and at every frame while at it (within 0.05), until they are away again."""
    x = {"now": 0.5}

    def model(rgb: np.ndarray, region: Box) -> list[Detection]:
        return [person(0.5, x["now"])]

    line = TripwireConfig("河堤", ((0.1, 0.5), (0.9, 0.5)))
    cam = CameraConfig("34020000001320000001", "a", "rtsp://x/", detect=True,
                       tripwires=(line,))
    pipe = CameraPipeline(cam, DetectConfig(fps=5), model, 0.2)
    looked, events = [], []
    for i in range(150):  # from y = 0.05 down to 0.95 in 30 s: 0.03 of the picture a second
        t = i * 0.2
        x["now"] = 0.05 + 0.03 * t
        if pipe.due(t):
            looked.append(round(t, 1))
            picture = np.full((360, 640, 3), 90, np.uint8)
            y = int(x["now"] * 360)
            picture[max(0, y - 60):y, 300:330] = 250  # something moves: the gate lets it be
            events += pipe.frame(picture, t)[1]
    assert [e.direction for e in events] == ["a_to_b"]
    # the crossing at t = 15 s; within NEAR (0.05) of it from 13.3 to 16.7 s: every frame
    # from the first (calm) look there
    near = [t for t in looked if 14.2 <= t <= 16.6]
    assert near == [round(14.0 + 0.2 * k, 1) for k in range(1, 14)], looked
    # elsewhere once a second (but just after the first sighting: its speed unknown)
    assert [1.0, 1.2, 2.2] == looked[1:4], looked
    far = [(a, b) for a, b in zip(looked, looked[1:]) if 2.0 <= a and b < 14.0 or a > 16.8]
    assert far and all(b - a >= 0.9 for a, b in far), looked
    assert len(looked) < 150 / 2


def test_a_calm_sub_stream_is_decoded_on_its_keyframes_only() -> None:
    """10 fps, a keyframe a second: once the keyframe interval is known, the frames between
    keyframes are not even decoded while nobody is at the line (a slow walker nearing it
    needs no more than the keyframes); from a look that finds someone at it, every frame
    is, until they are away again."""
    y = {"now": 0.05}

    def model(rgb: np.ndarray, region: Box) -> list[Detection]:
        return [person(0.5, y["now"])]

    cam = CameraConfig("34020000001320000001", "a", "rtsp://x/", detect=True,
                       tripwires=(TripwireConfig("河堤", ((0.1, 0.5), (0.9, 0.5))),))
    pipe = CameraPipeline(cam, DetectConfig(fps=5), model, 0.1)
    decoded, looked, events = [], [], []
    for i in range(300):  # from y = 0.05 down to 0.95 in 30 s: 0.03 of the picture a second
        t = round(i * 0.1, 1)
        y["now"] = 0.05 + 0.03 * t
        if not pipe.to_decode(t, keyframe=i % 10 == 0):
            continue
        decoded.append(t)
        if pipe.due(t):
            looked.append(t)
            picture = np.full((360, 640, 3), 90, np.uint8)
            picture[max(0, int(y["now"] * 360) - 60):int(y["now"] * 360), 300:330] = 250
            events += pipe.frame(picture, t)[1]
    assert [e.direction for e in events] == ["a_to_b"]  # at t = 15 s
    assert decoded[:10] == [round(0.1 * k, 1) for k in range(10)]  # the interval not known
    calm = [t for t in decoded if 3.0 <= t < 14.0 or t >= 17.0]
    assert calm and all(t == int(t) for t in calm), decoded  # keyframes only
    assert all(k / 10 in decoded for k in range(140, 166)), decoded  # every frame at it
    assert set(looked) <= set(decoded) and len(decoded) < 300 / 2


def test_how_soon_an_object_could_reach_a_line() -> None:
    rules = Rules((WIRE,))
    tracker = Tracker()
    tracker.update([(person(0.5, 0.2), ["全画面"])], 0.0)
    [track] = tracker.tracks
    assert not rules.approaching(track, 1.0)  # seen once: 0.25/s assumed, 0.3 away
    assert rules.approaching(track, 2.0)
    tracker.update([(person(0.5, 0.3), ["全画面"])], 1.0)  # 0.1 a second, 0.2 away
    assert not rules.approaching(track, 1.5) and rules.approaching(track, 2.5)
    car = Tracker()
    car.update([(person(0.5, 0.3, "vehicle"), ["全画面"])], 0.0)
    walkers_only = Rules((Tripwire("人行", (0.1, 0.5), (0.9, 0.5), labels=("person",)),))
    assert not walkers_only.approaching(car.tracks[0], 10.0)  # not a line it watches
    beside = Tracker()  # beyond the line's end: measured to its end, not to its extension
    beside.update([(person(0.97, 0.5), ["全画面"])], 0.0)
    beside.update([(person(0.97, 0.5), ["全画面"])], 1.0)  # standing: NEAR only
    assert not rules.approaching(beside.tracks[0], 2.0)


@pytest.mark.parametrize("rule, reason", [
    ({"tripwires": [{"name": "a", "line": [[0.5, 0.5], [0.505, 0.5]]}]}, "zero length"),
    ({"tripwires": [{"name": "a", "line": [[0.5, 0.5]]}]}, "two [x, y] points"),
    ({"tripwires": [{"name": "a", "line": [[0, 0], [1, 1]], "direction": "up"}]},
     "direction"),
    ({"tripwires": [{"name": "a", "line": [[0, 0], [1, 1]], "schedule": ["25:00-26:00"]}]},
     "tripwires[0].schedule: 应为"),
    ({"tripwires": [{"name": "a", "line": [[0, 0], [1, 1]]},
                    {"name": "a", "line": [[0, 1], [1, 0]]}]}, "duplicate name 'a'"),
    ({"zones": [{"name": "z", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}]},
     "crosses itself (edges 1 and 3)"),
    ({"zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "dwell_seconds": -1}]},
     "dwell_seconds"),
])
def test_rules_that_cannot_work_are_refused_with_the_reason(rule: dict, reason: str) -> None:
    raw = {"node": {"id": "34020000001180000001", "data_dir": "/tmp/x"},
           "cameras": [{"id": "34020000001320000001", "name": "a", "url": "rtsp://x/",
                        **rule}]}
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert reason in str(err.value)


def test_a_good_rule_config_reads() -> None:
    raw = {"node": {"id": "34020000001180000001", "data_dir": "/tmp/x"},
           "cameras": [{"id": "34020000001320000001", "name": "a", "url": "rtsp://x/",
                        "tripwires": [{"name": "河堤", "line": [[0.1, 0.5], [0.9, 0.5]],
                                       "direction": "a_to_b", "labels": ["person"],
                                       "schedule": ["22:00-06:00"]}]}]}
    wire = parse(raw).cameras[0].tripwires[0]
    assert wire == TripwireConfig("河堤", ((0.1, 0.5), (0.9, 0.5)), "a_to_b", ("person",),
                                  ("22:00-06:00",))


def test_a_rule_tried_on_stored_paths_finds_what_it_would_have() -> None:
    from edge.detect.rules import replay

    rules = Rules((WIRE,), (Dwell("长椅", 10.0),))
    bench = ((0.0, 0.7), (0.3, 0.7), (0.3, 1.0), (0.0, 1.0))
    walker = [(i * 0.5, 0.5, 0.2 + 0.05 * i) for i in range(12)]  # centres; feet 0.1 lower
    sitter = [(float(t), 0.15, 0.75) for t in range(0, 30, 2)]
    passer = [(float(t), 0.05 + 0.05 * t, 0.75) for t in range(6)]
    found = replay(rules, {"长椅": bench}, [("person", 0.06, 0.2, walker),
                                           ("person", 0.06, 0.2, sitter),
                                           ("person", 0.06, 0.2, passer),
                                           ("person", 0.06, 0.2, [])])
    assert sorted((e.kind, e.rule, e.direction) for e in found) == [
        ("loitering", "长椅", ""), ("tripwire", "河堤", "a_to_b")]


@pytest.mark.parametrize("speed,pace", [(0.25, 0.2), (0.1, 0.6)])
def test_an_object_nearing_a_line_is_looked_at_each_twentieth_of_the_picture(
        speed: float, pace: float) -> None:
    """5 fps: a cyclist (a quarter of the picture a second) at every frame as it nears the
    line, a walker (a tenth) every third frame (it moves 0.06 of the picture between
    looks), both at every frame once at the line; each crossing found."""
    y = {"now": 0.05}

    def model(rgb: np.ndarray, region: Box) -> list[Detection]:
        return [person(0.5, y["now"])]

    cam = CameraConfig("34020000001320000001", "a", "rtsp://x/", detect=True,
                       tripwires=(TripwireConfig("河堤", ((0.1, 0.5), (0.9, 0.5))),))
    pipe = CameraPipeline(cam, DetectConfig(fps=5), model, 0.2)
    looked, events = [], []
    for i in range(40):
        t = round(i * 0.2, 1)
        y["now"] = 0.05 + speed * t
        if pipe.due(t):
            looked.append(t)
            picture = np.full((360, 640, 3), 90, np.uint8)
            picture[max(0, int(y["now"] * 360) - 60):int(y["now"] * 360), 300:330] = 250
            events += pipe.frame(picture, t)[1]
    assert [e.direction for e in events] == ["a_to_b"]
    at_line = (0.40 / speed, 0.50 / speed)  # the foot (0.1 below y) within 0.05 of 0.5
    gaps = [(a, round(b - a, 1)) for a, b in zip(looked, looked[1:])]
    # nearing: it could reach the line within two calm looks (2 s) at its speed
    reach = max(0.2, (0.45 - 2 * speed) / speed)
    nearing = [g for a, g in gaps if reach <= a and a + pace < at_line[0]]
    assert nearing and set(nearing) == {pace}, gaps
    assert all(g == 0.2 for a, g in gaps if at_line[0] <= a < at_line[1]), gaps
