"""The settings page's plan view (统一空间): each camera's place and the way it looks,
drawn relative to the others and to the box — no map tiles (the box is offline). Pure:
WGS-84 degrees to a local east/north plane in metres (equirectangular around the mean
latitude: exact enough over a village), scaled into a square picture."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

SIZE = 400  # the picture's side, in SVG units
MARGIN = 40
EARTH_M = 6_371_000.0
VIEW_DEG = 60  # the wedge drawn for a camera's view (a typical fixed lens)
VIEW_LEN = 34
SCALES_M = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)


@dataclass(frozen=True)
class Mark:
    """One camera (or the box) in picture coordinates; ``view`` the wedge's SVG path."""

    label: str
    x: float
    y: float
    view: str = ""
    box: bool = False

    @property
    def label_left(self) -> bool:
        """Near the right edge the name goes left of the mark, inside the picture."""
        return self.x > SIZE - 110


@dataclass(frozen=True)
class Plan:
    marks: list[Mark]
    scale_m: int  # the scale bar's length in metres
    scale_px: float
    unplaced: list[str]  # cameras without a place


def _place(item: Mapping[str, Any]) -> tuple[float, float] | None:
    lon, lat = item.get("longitude"), item.get("latitude")
    if isinstance(lon, (int, float)) and isinstance(lat, (int, float)) \
            and not isinstance(lon, bool) and not isinstance(lat, bool) \
            and -180 <= lon <= 180 and -90 <= lat <= 90:
        return float(lon), float(lat)
    return None


def plan_of(node: Mapping[str, Any], cameras: Sequence[Mapping[str, Any]]) -> Plan | None:
    """The plan of the cameras with a place (and the box, if it has one); None when no
    camera has one."""
    placed = [(str(c.get("name") or c.get("id") or "?"), p, c.get("direction"))
              for c in cameras if (p := _place(c)) is not None]
    unplaced = [str(c.get("name") or c.get("id") or "?") for c in cameras if _place(c) is None]
    if not placed:
        return None
    here = _place(node)
    points = [p for _, p, _ in placed] + ([here] if here else [])
    lat0 = math.radians(sum(lat for _, lat in points) / len(points))
    lon0 = sum(lon for lon, _ in points) / len(points)
    lat_mean = math.degrees(lat0)

    def metres(p: tuple[float, float]) -> tuple[float, float]:
        return (math.radians(p[0] - lon0) * math.cos(lat0) * EARTH_M,
                math.radians(p[1] - lat_mean) * EARTH_M)

    flat = [metres(p) for p in points]
    span = max(max(abs(x) for x, _ in flat), max(abs(y) for _, y in flat), 10.0)
    px_per_m = (SIZE / 2 - MARGIN) / span

    def to_px(m: tuple[float, float]) -> tuple[float, float]:
        return round(SIZE / 2 + m[0] * px_per_m, 1), round(SIZE / 2 - m[1] * px_per_m, 1)

    marks = []
    for (label, _, direction), m in zip(placed, flat):
        x, y = to_px(m)
        marks.append(Mark(label, x, y, _wedge(x, y, direction)))
    if here:
        x, y = to_px(flat[-1])
        marks.append(Mark("本机 box", x, y, box=True))
    scale_m = next((s for s in reversed(SCALES_M) if s * px_per_m <= SIZE / 3), SCALES_M[0])
    return Plan(marks, scale_m, round(scale_m * px_per_m, 1), unplaced)


def _wedge(x: float, y: float, direction: Any) -> str:
    """The camera's view as a circular sector (north up, degrees clockwise)."""
    if not isinstance(direction, (int, float)) or isinstance(direction, bool):
        return ""
    a, b = math.radians(direction - VIEW_DEG / 2), math.radians(direction + VIEW_DEG / 2)
    x1, y1 = x + VIEW_LEN * math.sin(a), y - VIEW_LEN * math.cos(a)
    x2, y2 = x + VIEW_LEN * math.sin(b), y - VIEW_LEN * math.cos(b)
    return (f"M{x:.1f},{y:.1f} L{x1:.1f},{y1:.1f} A{VIEW_LEN},{VIEW_LEN} 0 0 1 "
            f"{x2:.1f},{y2:.1f} Z")
