"""Faces in a picture with BlazeFace short range, also where they are small.

BlazeFace is trained for faces that fill much of a 128x128 input (a selfie); in a
surveillance frame they are small. So the frame is searched twice: whole (letterboxed)
for near faces, and cut into overlapping 128-pixel tiles of a 384-pixel-high copy for
far ones. The boxes come back in the frame's pixels, suppressed across passes.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from edge.detect.blazeface import SIZE, Box, decode, suppress
from edge.detect.runtime import MODELS, Model

MODEL = MODELS / "face_detection_short_range.tflite"
TILED_HEIGHT = 384
TILE_STEP = 96


class FaceDetector:
    def __init__(self, min_score: float = 0.5) -> None:
        self.model = Model(MODEL)
        self.min_score = min_score

    def _run(self, rgb: np.ndarray) -> list[Box]:
        """``rgb`` is SIZE x SIZE; boxes normalised to it."""
        tensor = (rgb.astype(np.float32) / 127.5 - 1.0)[np.newaxis]
        regressors, scores = self._outputs(self.model.run(tensor))
        return decode(regressors, scores, self.min_score)

    @staticmethod
    def _outputs(outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        by_width = sorted(outputs, key=lambda o: o.shape[-1])  # [...,1] scores, [...,16] boxes
        return by_width[1], by_width[0]

    def detect(self, frame: np.ndarray) -> list[Box]:
        """Faces in an RGB frame (H x W x 3, uint8), in its pixels."""
        height, width = frame.shape[:2]
        found: list[Box] = []
        # whole, letterboxed into a square
        side = max(height, width)
        square = np.zeros((side, side, 3), np.uint8)
        square[:height, :width] = frame
        for box in self._run(cv2.resize(square, (SIZE, SIZE), interpolation=cv2.INTER_AREA)):
            found.append(_scaled(box, side, side, 0, 0))
        # tiles of a 384-high copy
        scale = TILED_HEIGHT / height
        copy = cv2.resize(frame, (max(SIZE, round(width * scale)), TILED_HEIGHT),
                          interpolation=cv2.INTER_AREA)
        for top in _starts(copy.shape[0]):
            for left in _starts(copy.shape[1]):
                tile = copy[top:top + SIZE, left:left + SIZE]
                for box in self._run(tile):
                    found.append(_scaled(box, SIZE / scale, SIZE / scale, left / scale,
                                         top / scale))
        return suppress(found)


def _starts(length: int) -> list[int]:
    starts = list(range(0, max(1, length - SIZE + 1), TILE_STEP))
    if starts[-1] + SIZE < length:
        starts.append(length - SIZE)
    return starts


def _scaled(box: Box, w: float, h: float, left: float, top: float) -> Box:
    return replace(box, xmin=left + box.xmin * w, xmax=left + box.xmax * w,
                   ymin=top + box.ymin * h, ymax=top + box.ymax * h)


def blur_faces(frame: np.ndarray, boxes: list[Box], margin: float = 0.25,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """Each face and a margin round it replaced by random noise: nothing of it is left to
    recognise, for a person or for a detector. (A blur or a mosaic keeps a head-shaped,
    skin-coloured blob that BlazeFace still scores at ~0.5 after re-encoding; noise scores
    nothing.)"""
    rng = rng or np.random.default_rng()
    out = frame.copy()
    height, width = out.shape[:2]
    for box in boxes:
        mw, mh = (box.xmax - box.xmin) * margin, (box.ymax - box.ymin) * margin
        x0, y0 = max(0, int(box.xmin - mw)), max(0, int(box.ymin - mh))
        x1, y1 = min(width, int(box.xmax + mw) + 1), min(height, int(box.ymax + mh) + 1)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0, out.shape[2]),
                                             dtype=np.uint8)
    return out
