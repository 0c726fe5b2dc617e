"""BlazeFace short range: its anchors, box decoding and non-maximum suppression. Pure
(numpy only). The model sees 128x128 RGB in -1..1 and answers, for each of 896 anchors, a
score logit and 16 numbers: box centre, size and 6 key points, in 128-pixel units
relative to the anchor (MediaPipe's face_detection_short_range graph)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 128
MIN_SCORE = 0.5
NMS_IOU = 0.3


@dataclass(frozen=True)
class Box:
    """Normalised to the picture the model saw: 0..1 on both axes."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float


def anchors() -> np.ndarray:
    """[896, 2] anchor centres: a 16x16 grid with 2 per cell (stride 8), then 8x8 with 6
    (three stride-16 layers with 2 each), all of fixed size 1 (SsdAnchorsCalculator)."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                out += [((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell
    return np.array(out, dtype=np.float32)


ANCHORS = anchors()


def decode(regressors: np.ndarray, scores: np.ndarray, min_score: float = MIN_SCORE) -> list[Box]:
    """The model's two outputs ([1,896,16] and [1,896,1]) -> boxes after suppression."""
    raw = regressors.reshape(-1, 16)
    logits = np.clip(scores.reshape(-1).astype(np.float64), -100.0, 100.0)
    prob = 1.0 / (1.0 + np.exp(-logits))
    keep = np.nonzero(prob >= min_score)[0]
    if not keep.size:
        return []
    cx = raw[keep, 0] / SIZE + ANCHORS[keep, 0]
    cy = raw[keep, 1] / SIZE + ANCHORS[keep, 1]
    w, h = raw[keep, 2] / SIZE, raw[keep, 3] / SIZE
    boxes = [Box(float(x - bw / 2), float(y - bh / 2), float(x + bw / 2), float(y + bh / 2),
                 float(p)) for x, y, bw, bh, p in zip(cx, cy, w, h, prob[keep])]
    return suppress(boxes)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.xmax, b.xmax) - max(a.xmin, b.xmin))
    iy = max(0.0, min(a.ymax, b.ymax) - max(a.ymin, b.ymin))
    inter = ix * iy
    union = (a.xmax - a.xmin) * (a.ymax - a.ymin) + (b.xmax - b.xmin) * (b.ymax - b.ymin) - inter
    return inter / union if union > 0 else 0.0


def suppress(boxes: list[Box], threshold: float = NMS_IOU) -> list[Box]:
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: b.score, reverse=True):
        if all(iou(box, k) < threshold for k in kept):
            kept.append(box)
    return kept
