"""What one picture says about a camera's health. Pure (numpy and OpenCV on arrays).

A frame is looked at small (WIDTH wide, grey and Lab) on a grid of blocks: per block, the
detail (Laplacian energy) and the flatness (standard deviation); for the frame, the
brightness, saturation, colour, fine noise and a small map of its edges (to tell whether
the camera still looks where it looked: people walking by change little of it, a turned
camera all of it). These are compared with the camera's own baseline
(diagnosis.py), so a grass field is not called blurred for lacking the texture of a
market street.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WIDTH = 320
GRID = (8, 6)  # blocks across, down
EDGES = (160, 120)


@dataclass(frozen=True)
class Measure:
    luma: float  # mean grey level 0..255
    luma_std: float
    saturated: float  # share of pixels at 250 or more
    chroma: float  # mean distance from grey in Lab a/b (0: a greyscale, infrared picture)
    ab: tuple[float, float]  # the picture's mean colour, Lab a/b (0, 0: neutral grey)
    noise: float  # mean absolute difference from a 3x3 median: fine grain
    blocks: np.ndarray  # GRID[1] x GRID[0] Laplacian energy per block
    flat: np.ndarray  # GRID[1] x GRID[0] standard deviation per block
    grey: np.ndarray  # the small grey picture (a frozen picture)
    edges: np.ndarray  # EDGES-sized gradient magnitude, smoothed (the view)

    @property
    def night(self) -> bool:
        """Infrared: no colour at all. Day and night keep separate baselines."""
        return self.chroma < 2.0


def measure(rgb: np.ndarray) -> Measure:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (WIDTH, max(GRID[1], round(h * WIDTH / w) // GRID[1] * GRID[1])),
                       interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    a, b = lab[:, :, 1] - 128.0, lab[:, :, 2] - 128.0
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    bh, bw = grey.shape[0] // GRID[1], grey.shape[1] // GRID[0]
    shape = (GRID[1], bh, GRID[0], bw)
    blocks = (lap[:GRID[1] * bh, :GRID[0] * bw] ** 2).reshape(shape).mean(axis=(1, 3))
    flat = grey[:GRID[1] * bh, :GRID[0] * bw].astype(np.float32).reshape(shape).std(axis=(1, 3))
    median = cv2.medianBlur(grey, 3)
    tiny = cv2.resize(grey, EDGES, interpolation=cv2.INTER_AREA).astype(np.float32)
    magnitude = np.hypot(cv2.Sobel(tiny, cv2.CV_32F, 1, 0), cv2.Sobel(tiny, cv2.CV_32F, 0, 1))
    return Measure(
        luma=float(grey.mean()), luma_std=float(grey.std()),
        saturated=float((grey >= 250).mean()),
        chroma=float(np.hypot(a, b).mean()), ab=(float(a.mean()), float(b.mean())),
        noise=float(np.abs(grey.astype(np.int16) - median).mean()),
        blocks=blocks, flat=flat, grey=grey, edges=cv2.GaussianBlur(magnitude, (0, 0), 2))


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two edge maps: about 0.8 for the same view with people passing, about
    0 for another view."""
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def changed(a: np.ndarray, b: np.ndarray, levels: int = 4) -> float:
    """Share of the pixels of two small grey pictures that differ by more than ``levels``
    (the encoder's own noise on a frozen picture stays below that)."""
    if a.shape != b.shape:
        return 1.0
    return float((cv2.absdiff(a, b) > levels).mean())
