"""People, vehicles and two-wheelers in a frame: the COCO SSDLite model behind
``ObjectDetector.detect``, on the whole frame or on the region the motion gate chose."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from edge.detect.objects import Box, Detection, decode
from edge.detect.runtime import MODELS, Model

MODEL = MODELS / "coco_ssd_mobilenet_v2.tflite"
# quantised from MODEL by tools/build_coco_ssd.py --int8 (float in and out, like MODEL)
MODEL_FILES = {"fp16": MODEL, "int8": MODELS / "coco_ssd_mobilenet_v2_int8.tflite"}
SIZE = 300
WHOLE = Box(0.0, 0.0, 1.0, 1.0)


class ObjectDetector:
    """One interpreter shared by the threads of a process (it runs one frame at a time)."""

    def __init__(self, min_score: float = 0.4, threads: int = 1,
                 model: Path = MODEL_FILES["int8"]) -> None:
        self.model = Model(model, threads)
        self.min_score = min_score
        self.invocations = 0
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray, region: Box = WHOLE) -> list[Detection]:
        """Objects in ``region`` of an RGB frame (H x W x 3, uint8), in frame coordinates."""
        h, w = rgb.shape[:2]
        x0, y0 = int(region.x0 * w), int(region.y0 * h)
        x1, y1 = max(x0 + 1, int(round(region.x1 * w))), max(y0 + 1, int(round(region.y1 * h)))
        crop = cv2.resize(rgb[y0:y1, x0:x1], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        seen = Box(x0 / w, y0 / h, x1 / w, y1 / h)
        with self._lock:
            outputs = self.model.run(crop[np.newaxis].astype(np.float32))
            self.invocations += 1
        scores, boxes = sorted(outputs, key=lambda o: o.shape[-1], reverse=True)  # 90, then 4
        return [d for d in decode(scores, boxes, self.min_score, seen) if not cut(d.box, seen)]


def cut(box: Box, region: Box, edge: float = 0.01) -> bool:
    """Whether ``box`` touches an edge of ``region`` inside the frame: the object is cut
    there, its box is wrong (and it will be seen whole in another region)."""
    ex, ey = edge * (region.x1 - region.x0), edge * (region.y1 - region.y0)
    return ((region.x0 > 0 and box.x0 <= region.x0 + ex)
            or (region.y0 > 0 and box.y0 <= region.y0 + ey)
            or (region.x1 < 1 and box.x1 >= region.x1 - ex)
            or (region.y1 < 1 and box.y1 >= region.y1 - ey))
