"""What the COCO detector's outputs mean to us. Pure (numpy only).

The model (edge/models/coco_ssd_mobilenet_v2.tflite) answers, for each of 1917 anchors, 90
sigmoid scores (column k is COCO id k+1) and a decoded box (ymin, xmin, ymax, xmax,
normalised to the picture it saw). We keep three classes a village cares about:

- person: COCO 1;
- vehicle: car 3, bus 6, truck 8 — a rural three-wheeled cargo tricycle (三轮车) comes out
  as a car or a truck when loaded, as a motorcycle when seen from the side: either is fine;
- two_wheeler: bicycle 2, motorcycle 4 (electric bikes, 电动车, come out as either).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COCO_LABELS = {1: "person", 3: "vehicle", 6: "vehicle", 8: "vehicle", 2: "two_wheeler",
               4: "two_wheeler"}
LABELS = ("person", "vehicle", "two_wheeler")
NMS_IOU = 0.5
MAX_DETECTIONS = 50


@dataclass(frozen=True, slots=True)
class Box:
    """Normalised to the whole frame: 0..1 on both axes."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    @property
    def foot(self) -> tuple[float, float]:
        """Where the object stands: the middle of its bottom edge (zones test this)."""
        return (self.x0 + self.x1) / 2, self.y1

    def iou(self, other: Box) -> float:
        inter = Box(max(self.x0, other.x0), max(self.y0, other.y0),
                    min(self.x1, other.x1), min(self.y1, other.y1)).area
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    coco_id: int
    score: float
    box: Box


def decode(scores: np.ndarray, boxes: np.ndarray, min_score: float,
           region: Box = Box(0.0, 0.0, 1.0, 1.0)) -> list[Detection]:
    """Detections of our classes at ``min_score`` or more, best first, duplicates of one
    object suppressed. ``scores`` [1917, 90], ``boxes`` [1917, 4] (any leading 1-dims);
    ``region`` is the part of the frame the model saw, so boxes come back in the frame."""
    scores = scores.reshape(-1, scores.shape[-1])
    boxes = boxes.reshape(-1, 4)
    if scores.shape[0] != boxes.shape[0] or scores.shape[1] < max(COCO_LABELS):
        raise ValueError(f"model outputs of shapes {scores.shape} and {boxes.shape}")
    ids = np.array(sorted(COCO_LABELS))
    ours = scores[:, ids - 1]
    best = ours.argmax(axis=1)
    best_score = ours[np.arange(len(ours)), best]
    keep = np.nonzero(best_score >= min_score)[0]
    keep = keep[np.argsort(-best_score[keep], kind="stable")]
    w, h = region.x1 - region.x0, region.y1 - region.y0
    found: list[Detection] = []
    for i in keep:
        y0, x0, y1, x1 = (float(v) for v in np.clip(boxes[i], 0.0, 1.0))
        coco_id = int(ids[best[i]])
        det = Detection(COCO_LABELS[coco_id], coco_id, float(best_score[i]),
                        Box(region.x0 + x0 * w, region.y0 + y0 * h,
                            region.x0 + x1 * w, region.y0 + y1 * h))
        if det.box.area > 0 and all(d.label != det.label or d.box.iou(det.box) < NMS_IOU
                                    for d in found):
            found.append(det)
            if len(found) == MAX_DETECTIONS:
                break
    return found
