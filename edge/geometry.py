"""Lines on the picture, in fractions of its width and height (y grows downwards, as on
the screen). Pure, stdlib only (the config checker uses it too)."""

from __future__ import annotations

import math
from typing import Sequence

Point = Sequence[float]


def side(a: Point, b: Point, p: Point) -> float:
    """Negative when ``p`` is on the left of the line a→b as seen on the screen, positive on
    its right, 0 on it (the cross product, with y pointing down)."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Whether segment p1-p2 and segment q1-q2 cross (touching ends do not count)."""
    return side(q1, q2, p1) * side(q1, q2, p2) < 0 and side(p1, p2, q1) * side(p1, p2, q2) < 0


def distance_to_segment(p: Point, a: Point, b: Point) -> float:
    """How far ``p`` is from the segment a-b (from its nearest end beyond them)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    k = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy)
                                               / length2))
    return math.dist(p, (a[0] + k * dx, a[1] + k * dy))
