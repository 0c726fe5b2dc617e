"""Pure parts of detection: the model's outputs decoded (from a real inference), the motion
gate on synthetic scenes, zones and masks, the tracker (one event per object, parked objects
not again), cut boxes, the config of zones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge import config
from edge.detect.coco import cut
from edge.detect.motion import MotionGate, MotionSettings, crop_region
from edge.detect.objects import Box, Detection, decode
from edge.detect.tracker import Tracker, TrackerSettings
from edge.detect.zones import Zone, inside, zones_of
from edge.errors import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data"


def recorded() -> tuple[np.ndarray, np.ndarray]:
    """The model's outputs for frame 100 of vtest.avi (anchors scoring < 0.05 left out)."""
    raw = np.load(DATA / "coco_vtest100.npz")
    scores = np.zeros((1917, 90), np.float32)
    boxes = np.zeros((1917, 4), np.float32)
    scores[raw["anchors"]] = raw["scores"]
    boxes[raw["anchors"]] = raw["boxes"]
    return scores[np.newaxis], boxes[np.newaxis, :, np.newaxis]


def test_a_real_inference_decodes_to_the_people_and_cars_of_vtest() -> None:
    scores, boxes = recorded()
    found = decode(scores, boxes, 0.5)
    people = [d for d in found if d.label == "person"]
    cars = [d for d in found if d.label == "vehicle"]
    assert len(people) >= 4 and len(cars) >= 1
    assert all(d.coco_id == 1 for d in people) and all(d.coco_id == 3 for d in cars)
    # one box per object: no two of a label overlap much
    for a in found:
        assert all(b is a or b.label != a.label or a.box.iou(b.box) < 0.5 for b in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    # people in vtest stand on the pavement: taller than wide
    assert all(d.box.y1 - d.box.y0 > d.box.x1 - d.box.x0 for d in people)
    # a stricter threshold keeps a subset
    assert {d.box for d in decode(scores, boxes, 0.8)} <= {d.box for d in found}


def test_boxes_come_back_in_the_frame_when_the_model_saw_a_region() -> None:
    scores, boxes = recorded()
    region = Box(0.5, 0.25, 1.0, 0.75)
    whole = decode(scores, boxes, 0.5)
    part = decode(scores, boxes, 0.5, region)
    for w, p in zip(whole, part):
        assert p.box.x0 == pytest.approx(0.5 + w.box.x0 * 0.5)
        assert p.box.y1 == pytest.approx(0.25 + w.box.y1 * 0.5)


def test_outputs_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError):
        decode(np.zeros((1, 10, 90)), np.zeros((1, 11, 4)), 0.5)


def test_classes_we_do_not_keep_are_dropped() -> None:
    scores = np.zeros((4, 90), np.float32)
    scores[0, 17 - 1] = 0.9  # a dog
    scores[1, 4 - 1] = 0.9  # a motorcycle
    scores[2, 8 - 1] = 0.9  # a truck
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0.3, 0.3, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9],
                      [0, 0, 1, 1]], np.float32)
    assert [(d.label, d.coco_id) for d in decode(scores, boxes, 0.5)] == \
        [("two_wheeler", 4), ("vehicle", 8)]


def scene(blobs: list[tuple[int, int]], light: int = 80) -> np.ndarray:
    grey = np.full((90, 160), light, np.uint8)
    for x, y in blobs:
        grey[y:y + 12, x:x + 6] = 200
    return grey


def test_the_gate_finds_a_walker_and_ignores_a_quiet_scene() -> None:
    gate = MotionGate()
    assert gate.update(scene([])) is None  # the first frame is the background
    assert all(gate.update(scene([])) is None for _ in range(5))
    region = gate.update(scene([(100, 50)]))
    assert region is not None
    assert region.x0 < 100 / 160 < region.x1 and region.y0 < 56 / 90 < region.y1
    assert region.x1 - region.x0 >= MotionSettings().min_crop - 1e-9


def test_a_whole_frame_change_is_light_not_motion() -> None:
    gate = MotionGate()
    gate.update(scene([], light=80))
    assert gate.update(scene([], light=200)) is None  # infrared switched on
    assert gate.update(scene([], light=200)) is None  # and that is the background now


def test_specks_below_the_minimum_area_are_noise() -> None:
    gate = MotionGate(MotionSettings(min_area=0.01))
    gate.update(scene([]))
    speck = scene([])
    speck[10:12, 10:12] = 255
    assert gate.update(speck) is None


def test_a_crop_grows_to_the_minimum_and_stays_inside() -> None:
    r = crop_region(Box(0.95, 0.95, 0.99, 0.99), 0.1, 0.35)
    assert (r.x1, r.y1) == (1.0, 1.0) and r.x1 - r.x0 == pytest.approx(0.35)
    r = crop_region(Box(0.05, 0.2, 0.95, 0.8), 0.1, 0.35)
    assert r.x0 == 0.0 and r.x1 == 1.0  # 0.9 grown by 20 % is the whole width
    assert r.y0 == pytest.approx(0.14) and r.y1 == pytest.approx(0.86)


def test_cut_boxes_are_those_on_an_inner_edge_of_the_region() -> None:
    region = Box(0.2, 0.0, 0.6, 0.5)
    assert cut(Box(0.2, 0.1, 0.3, 0.3), region)  # on its left edge, inside the frame
    assert cut(Box(0.3, 0.3, 0.4, 0.5), region)  # on its bottom edge
    assert not cut(Box(0.3, 0.0, 0.4, 0.2), region)  # on its top edge: the frame's edge
    assert not cut(Box(0.3, 0.1, 0.4, 0.3), region)


def person(x: float, y: float, score: float = 0.8, label: str = "person") -> Detection:
    return Detection(label, 1, score, Box(x, y, x + 0.05, y + 0.15))


def test_polygons_zones_and_masks() -> None:
    door = Zone("门口", ((0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0)), ("person",), 0.6)
    assert inside((0.25, 0.75), door.polygon) and not inside((0.75, 0.75), door.polygon)
    assert zones_of(person(0.1, 0.6), (door,), ()) == ["门口"]  # foot at y 0.75
    assert zones_of(person(0.1, 0.1), (door,), ()) == []  # foot at y 0.25: outside
    assert zones_of(person(0.1, 0.6, score=0.5), (door,), ()) == []  # below its min_score
    assert zones_of(person(0.1, 0.6, label="vehicle"), (door,), ()) == []  # not its label
    mask = ((0.0, 0.0), (0.3, 0.0), (0.3, 1.0), (0.0, 1.0))
    assert zones_of(person(0.1, 0.6), (door,), (mask,)) == []


def walk(tracker: Tracker, xs: list[float], t0: float = 0.0, step: float = 1.0,
         y: float = 0.5) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    for i, x in enumerate(xs):
        found = [(person(x, y), ["z"])] if x >= 0 else []
        update = tracker.update(found, t0 + i * step)
        seen += [("start", t.id) for t in update.started]
        seen += [("end", t.id) for t in update.ended]
    return seen


def test_one_walker_is_one_event_with_its_path_and_best_picture() -> None:
    tracker = Tracker(TrackerSettings(max_age_s=3))
    events = walk(tracker, [0.1, 0.15, 0.2, 0.25, 0.3] + [-1] * 5)
    assert events == [("start", 1), ("end", 1)]


def test_a_fast_walker_seen_seldom_is_still_one_track() -> None:
    tracker = Tracker(TrackerSettings(max_age_s=8))
    events = walk(tracker, [0.1, 0.22, 0.34, 0.46, -1, -1, -1, -1, -1, -1, -1, -1, -1],
                  step=2.0)
    assert events == [("start", 1), ("end", 1)]


def test_one_glimpse_is_not_an_event() -> None:
    assert walk(Tracker(TrackerSettings(max_age_s=3)), [0.5] + [-1] * 5) == []


def test_a_parked_car_is_not_an_event_again() -> None:
    tracker = Tracker(TrackerSettings(max_age_s=3))
    car = Detection("vehicle", 3, 0.7, Box(0.8, 0.05, 0.95, 0.2))
    started = []
    for t in range(40):  # seen whenever someone walks past, i.e. now and then
        found = [(car, ["z"])] if t % 10 < 2 else []
        started += tracker.update(found, float(t)).started
    assert len(started) == 1  # the first time only
    assert tracker.update([(car, ["z"])], 50.0).started == []
    started = []
    for i in range(1, 5):  # it drives off: that is news
        off = Detection("vehicle", 3, 0.7, Box(0.8 - 0.05 * i, 0.05, 0.95 - 0.05 * i, 0.2))
        started += tracker.update([(off, ["z"])], 50.0 + i).started
    assert len(started) == 1


def test_an_object_outside_every_zone_is_tracked_but_not_reported_until_it_enters() -> None:
    tracker = Tracker(TrackerSettings(max_age_s=3))
    assert tracker.update([(person(0.1, 0.1), [])], 0.0).started == []
    assert tracker.update([(person(0.12, 0.1), [])], 1.0).started == []
    assert len(tracker.update([(person(0.14, 0.1), ["z"])], 2.0).started) == 1


def test_a_better_picture_replaces_the_first() -> None:
    tracker = Tracker(TrackerSettings(max_age_s=3))
    tracker.update([(person(0.1, 0.5, 0.6), ["z"])], 0.0)
    assert len(tracker.update([(person(0.11, 0.5, 0.6), ["z"])], 1.0).started) == 1
    # a hair better is not worth rewriting the pictures
    assert tracker.update([(person(0.115, 0.5, 0.63), ["z"])], 1.5).improved == []
    update = tracker.update([(person(0.12, 0.5, 0.9), ["z"])], 2.0)
    assert [t.best.score for t in update.improved] == [0.9]
    assert tracker.tracks[0].best.score == 0.9


def test_zones_and_masks_in_the_config(tmp_path: Path) -> None:
    base = ['[node]', 'id = "34020000001180000001"', f'data_dir = "{tmp_path}"',
            '[[cameras]]', 'id = "34020000001320000001"', 'name = "a"',
            'url = "rtsp://127.0.0.1/a"', 'detect = true']
    good = base + ['masks = [[[0, 0], [0.2, 0], [0.2, 0.2]]]', '[[cameras.zones]]',
                   'name = "门口"', 'polygon = [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]',
                   'labels = ["person"]']
    cam = config.parse(config.parse_toml("\n".join(good).encode(), "x")).cameras[0]
    assert cam.detect and cam.zones[0].name == "门口" and cam.zones[0].labels == ("person",)
    assert cam.masks == (((0, 0), (0.2, 0), (0.2, 0.2)),)
    bad = base + ['masks = [[[0, 0], [2, 0]]]', '[[cameras.zones]]', 'name = "x"',
                  'labels = ["dog"]', '[detect]', 'fps = 100']
    with pytest.raises(ConfigError) as err:
        config.parse(config.parse_toml("\n".join(bad).encode(), "x"))
    text = "\n".join(err.value.problems)
    assert "cameras[0].masks[0]" in text and "cameras[0].zones[0].labels" in text \
        and "detect.fps" in text


def test_a_quiet_camera_is_looked_at_half_as_often_and_wakes_on_motion() -> None:
    from edge.config import CameraConfig, DetectConfig
    from edge.detect.pipeline import QUIET_EVERY_S, QUIET_LOOKS, CameraPipeline

    calls: list[Box] = []

    def model(rgb: np.ndarray, region: Box) -> list[Detection]:
        calls.append(region)
        return []

    cam = CameraConfig("34020000001320000001", "a", "rtsp://x/", detect=True)
    pipe = CameraPipeline(cam, DetectConfig(fps=5), model, 1.0)
    still = np.full((360, 640, 3), 90, np.uint8)
    looked = []
    for i in range(40):  # keyframes every second of a quiet scene
        t = float(i)
        if pipe.due(t):
            pipe.frame(still, t)
            looked.append(t)
    assert looked[:QUIET_LOOKS] == [float(i) for i in range(QUIET_LOOKS)]  # every keyframe
    gaps = {b - a for a, b in zip(looked[QUIET_LOOKS - 1:], looked[QUIET_LOOKS:])}
    assert gaps == {QUIET_EVERY_S} and pipe.quiet and calls == []
    moving = still.copy()
    moving[150:250, 300:340] = 250  # someone walks in
    t = looked[-1] + QUIET_EVERY_S
    assert pipe.due(t)
    pipe.frame(moving, t)
    assert len(calls) == 1 and not pipe.quiet and pipe.due(t + 1.0)  # awake: every keyframe


def test_a_ten_fps_sub_stream_is_looked_at_at_detect_fps_while_someone_is_at_a_line() -> None:
    """detect.fps = 5 on a 10-fps stream: every second frame, by the frames' own times,
    while someone stands at a tripwire; on a camera without one, once a second (the
    integration test cannot measure a rate on a busy machine; this is where it holds)."""
    from edge.config import CameraConfig, DetectConfig, TripwireConfig
    from edge.detect.pipeline import CameraPipeline

    def model(rgb: np.ndarray, region: Box) -> list[Detection]:
        return [Detection("person", 1, 0.9, Box(0.45, 0.3, 0.55, 0.7))]

    def looks(cam: CameraConfig) -> list[float]:
        pipe = CameraPipeline(cam, DetectConfig(fps=5), model, 0.1)
        looked = []
        for i in range(20):  # 2 s of someone moving (never quiet), frames 100 ms apart
            t = i * 0.1
            if pipe.due(t):
                picture = np.full((360, 640, 3), 90, np.uint8)
                picture[150:250, 20 + 30 * i:60 + 30 * i] = 250
                pipe.frame(picture, t)
                looked.append(round(t, 1))
        return looked

    line = TripwireConfig("线", ((0.5, 0.0), (0.5, 1.0)))
    at_line = CameraConfig("34020000001320000001", "a", "rtsp://x/", detect=True,
                           tripwires=(line,))
    # the first look only learns the background (the next frame at 0.9 of a second is
    # taken: frames come a little early or late); from the first sighting on, 5 fps
    assert looks(at_line) == [0.0, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9]
    assert looks(CameraConfig("34020000001320000001", "a", "rtsp://x/", detect=True)) == [
        0.0, 0.9, 1.8]
