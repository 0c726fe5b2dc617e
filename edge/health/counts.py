"""Counting (客流/车流统计): the tripwires' crossings per hour of a local day, per line,
direction and kind of object. Pure: the caller reads the crossings from the index."""

from __future__ import annotations

from dataclasses import dataclass, field

Crossing = tuple[str, str, str, str, float]  # channel, tripwire, direction, label, ts
WAYS = {"a_to_b": "A→B", "b_to_a": "B→A"}  # a tripwire's directions, as people read them


@dataclass
class Count:
    channel: str
    tripwire: str
    direction: str
    label: str
    hours: list[int] = field(default_factory=lambda: [0] * 24)

    @property
    def total(self) -> int:
        return sum(self.hours)


def by_hour(crossings: list[Crossing], day_start: float) -> list[Count]:
    """The crossings of the local day that began at ``day_start`` (China keeps no summer
    time: an hour is 3600 s after midnight), sorted by camera, line, direction, label."""
    counts: dict[tuple[str, str, str, str], Count] = {}
    for channel, wire, direction, label, ts in crossings:
        hour = int((ts - day_start) // 3600)
        if 0 <= hour < 24:
            key = (channel, wire, direction, label)
            counts.setdefault(key, Count(*key)).hours[hour] += 1
    return [counts[k] for k in sorted(counts)]


def totals(counts: list[Count]) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
    """{camera: {line: {direction: {label: n}}}} (the health message's shape)."""
    out: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
    for c in counts:
        out.setdefault(c.channel, {}).setdefault(c.tripwire, {}).setdefault(
            c.direction, {})[c.label] = c.total
    return out
