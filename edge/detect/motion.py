"""The motion gate: which part of a frame changed, so the model looks only there and a
quiet camera costs almost nothing. Pure (numpy and OpenCV on arrays, no I/O).

A downscaled grey frame is compared with a running average of the camera's earlier
frames; pixels that differ by more than ``threshold`` grey levels are motion, small specks
are ignored, and the changed contours are joined into one region (the crop the model
sees). A change over most of the frame (the camera switching to infrared, lightning,
auto-exposure) is not motion: the background is taken anew and nothing is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.objects import Box

WIDTH = 160  # pixels of the grey frame the gate works on


@dataclass(frozen=True, slots=True)
class MotionSettings:
    threshold: int = 25  # grey levels (0..255) a pixel must change by
    min_area: float = 0.002  # of the frame: smaller changes are noise, leaves, snow
    whole_frame: float = 0.5  # more than this changed at once: lighting, not motion
    alpha: float = 0.3  # weight of the newest frame in the running average
    margin: float = 0.1  # the region grows by this (of its size) on each side
    min_crop: float = 0.35  # and is at least this wide/high (of the frame), for context


def grey_small(rgb: np.ndarray) -> np.ndarray:
    """The gate's input: grey, WIDTH wide, blurred against sensor noise."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (WIDTH, max(1, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)


class MotionGate:
    def __init__(self, settings: MotionSettings = MotionSettings()) -> None:
        self.settings = settings
        self.background: np.ndarray | None = None

    def update(self, grey: np.ndarray) -> Box | None:
        """The region that moved in this frame, or None."""
        s = self.settings
        frame = grey.astype(np.float32)
        if self.background is None or self.background.shape != frame.shape:
            self.background = frame
            return None
        diff = cv2.absdiff(frame, self.background)
        mask = (diff > s.threshold).astype(np.uint8)
        changed = float(mask.mean())
        if changed > s.whole_frame:  # the light changed, not the scene
            self.background = frame
            return None
        cv2.accumulateWeighted(frame, self.background, s.alpha)
        if changed < s.min_area:
            return None
        grown = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=2)
        contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        h, w = grown.shape
        rects = [cv2.boundingRect(c) for c in contours
                 if cv2.contourArea(c) >= s.min_area * w * h]
        if not rects:
            return None
        x0 = min(r[0] for r in rects) / w
        y0 = min(r[1] for r in rects) / h
        x1 = max(r[0] + r[2] for r in rects) / w
        y1 = max(r[1] + r[3] for r in rects) / h
        return crop_region(Box(x0, y0, x1, y1), s.margin, s.min_crop)


def crop_region(box: Box, margin: float, min_size: float) -> Box:
    """``box`` grown by ``margin`` and to ``min_size`` on each axis, kept in the frame."""
    def axis(lo: float, hi: float) -> tuple[float, float]:
        size = hi - lo
        size = min(1.0, max(size * (1 + 2 * margin), min_size))
        mid = (lo + hi) / 2
        lo = min(max(0.0, mid - size / 2), 1.0 - size)
        return lo, lo + size

    x0, x1 = axis(box.x0, box.x1)
    y0, y1 = axis(box.y0, box.y1)
    return Box(x0, y0, x1, y1)
