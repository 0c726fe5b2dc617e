"""Recorded ranges and gaps of a channel from its segment rows. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

# Consecutive segments of one stream touch to within a frame interval; anything
# wider than this is a real hole in the footage.
GAP_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Range:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def merge_ranges(
    spans: Iterable[tuple[float, float]], tolerance_s: float = GAP_TOLERANCE_S
) -> list[Range]:
    """Union of (start, end) spans, joining those closer than ``tolerance_s``."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + tolerance_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [Range(s, e) for s, e in merged]


def gaps_between(ranges: list[Range]) -> list[Range]:
    return [Range(a.end, b.start) for a, b in zip(ranges, ranges[1:])]


def clip(ranges: list[Range], start: float, end: float) -> list[Range]:
    """The parts of ``ranges`` inside [start, end]."""
    out = []
    for r in ranges:
        s, e = max(r.start, start), min(r.end, end)
        if s < e:
            out.append(Range(s, e))
    return out
