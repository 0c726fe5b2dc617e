"""The shipped COCO model behind ``ObjectDetector`` on real pictures from registry packages:
a motorcycle (scikit-image's data), an astronaut (NASA, public domain), vtest's street
(Debian's opencv-doc): the right class where the thing is, and the same answers through a
crop of the region it stands in."""

from __future__ import annotations

import av
import numpy as np

from edge.detect.coco import ObjectDetector
from edge.detect.objects import Box
from tests.conftest import ROOT, skimage_picture, street_clips


def picture(path: str) -> np.ndarray:
    with av.open(path) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_a_motorcycle_is_a_two_wheeler_filling_the_picture() -> None:
    found = ObjectDetector(0.5).detect(picture(str(skimage_picture("motorcycle_left.png"))))
    best = found[0]
    assert (best.label, best.coco_id) == ("two_wheeler", 4) and best.score > 0.9
    assert best.box.area > 0.5  # the motorcycle fills the picture
    assert not [d for d in found if d.label == "vehicle"]


def test_the_astronaut_is_a_person() -> None:
    found = ObjectDetector(0.5).detect(picture(str(ROOT / "tests" / "data" / "astronaut.jpg")))
    best = found[0]  # a close portrait: a person, from her head to the picture's foot
    assert best.label == "person" and best.score > 0.5
    assert best.box.y0 < 0.1 and best.box.y1 > 0.85 and best.box.x0 < 0.2


def test_people_in_the_street_are_found_whole_and_through_a_crop() -> None:
    from edge.sim.clips import read_units

    unit = read_units(street_clips()["street"].with_suffix(".video"))[0]
    codec = av.CodecContext.create("h264", "r")
    frame = (list(codec.decode(av.Packet(unit))) + list(codec.decode(None)))[-1]
    rgb = frame.to_ndarray(format="rgb24")
    detector = ObjectDetector(0.5)
    whole = [d for d in detector.detect(rgb) if d.label == "person"]
    assert len(whole) >= 3
    # the right half alone, as the motion gate would crop it: its people, in frame units
    right = Box(0.5, 0.0, 1.0, 1.0)
    cropped = [d for d in detector.detect(rgb, right) if d.label == "person"]
    assert cropped and all(d.box.x0 >= 0.5 - 1e-6 for d in cropped)
    # seen bigger, the same people where the whole frame has them
    assert any(max(w.box.iou(d.box) for w in whole) > 0.5 for d in cropped)
    assert detector.invocations == 2
