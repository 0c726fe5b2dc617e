"""Zones, masks and object filters. Pure.

Polygons are in relative coordinates (0..1 of the frame's width and height), so they
survive a change of resolution. An object is placed by its foot (the middle of its box's
bottom edge): a person walking past a zone's far edge is not in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.detect.objects import Detection

Point = tuple[float, float]
Polygon = tuple[Point, ...]
WHOLE_FRAME: Polygon = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    polygon: Polygon = WHOLE_FRAME
    labels: tuple[str, ...] = ("person", "vehicle", "two_wheeler")
    min_score: float = 0.5
    min_area: float = 0.0005  # of the frame: smaller boxes are too far to judge


def inside(point: Point, polygon: Polygon) -> bool:
    """Ray casting; a point on the edge may land either way."""
    x, y = point
    hit = False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
    return hit


def zones_of(det: Detection, zones: tuple[Zone, ...], masks: tuple[Polygon, ...]) -> list[str]:
    """The zones whose filters ``det`` passes; empty when it is masked or in none."""
    foot = det.box.foot
    if any(inside(foot, m) for m in masks):
        return []
    return [z.name for z in zones
            if det.label in z.labels and det.score >= z.min_score
            and det.box.area >= z.min_area and inside(foot, z.polygon)]
