"""Rules on tracks: a tripwire crossed (绊线) and an object staying in a zone (徘徊 people,
停留 vehicles). Pure: the caller passes the tracks seen in a frame and the time.

An object is placed by its foot (the middle of its box's bottom edge), as for zones. A
foot within MARGIN of a line has no side yet: a person standing on the line, whose box
jitters by a few pixels, does not cross it back and forth. A crossing is a change of side
whose step goes through the line itself (not around its end), and each object crosses
each line at most once per direction (someone pacing over it is one event each way).

Lines are watched closely only where it matters: ``approaching`` tells the pipeline which
tracks could reach a line soon, so a camera whose objects are all far from its lines is
looked at seldom (see edge/detect/pipeline.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge.config import CameraConfig
from edge.detect.objects import Box, Detection
from edge.detect.tracker import Track
from edge.detect.zones import inside
from edge.geometry import Point, distance_to_segment, segments_cross, side

MARGIN = 0.01  # of the picture: a foot this near the line is on it, not on either side
NEAR = 0.05  # of the picture: a foot this near a line is close to crossing it, however slow
# of the picture a second: the speed of a track seen once (a brisk walker on a near camera)
UNKNOWN_SPEED = 0.25


@dataclass(frozen=True, slots=True)
class Tripwire:
    name: str
    a: tuple[float, float]
    b: tuple[float, float]
    direction: str = "both"  # "a_to_b", "b_to_a" or "both"
    labels: tuple[str, ...] = ("person", "vehicle", "two_wheeler")
    schedule: tuple[str, ...] = ()

    def side_of(self, foot: Point) -> int:
        """-1 on side A (left of a→b on the screen), 1 on side B, 0 on the line."""
        distance = side(self.a, self.b, foot) / math.dist(self.a, self.b)
        return 0 if abs(distance) < MARGIN else (-1 if distance < 0 else 1)


@dataclass(frozen=True, slots=True)
class Dwell:
    zone: str
    seconds: float
    schedule: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleEvent:
    kind: str  # "tripwire", "loitering" (people, two-wheelers) or "parked" (vehicles)
    rule: str  # the tripwire's or zone's name
    track: Track
    schedule: tuple[str, ...]  # when the rule is armed (none: always)
    direction: str = ""  # tripwire: "a_to_b" or "b_to_a"
    seconds: float = 0.0  # loitering/parked: how long it had been in the zone


@dataclass
class _Seen:
    """One track against one tripwire: the last side it was clearly on, and where."""

    side: int
    foot: Point
    crossed: set[str] = field(default_factory=set)


class Rules:
    def __init__(self, tripwires: tuple[Tripwire, ...] = (), dwells: tuple[Dwell, ...] = ()):
        self.tripwires = tripwires
        self.dwells = dwells
        self._seen: dict[tuple[int, str], _Seen] = {}
        self._dwelt: set[tuple[int, str]] = set()

    def __bool__(self) -> bool:
        return bool(self.tripwires or self.dwells)

    def dwelling(self, track: Track) -> bool:
        """Whether ``track`` is in a zone that times its stay (the model keeps looking at
        it though it stands still)."""
        return any(d.zone in track.inside_since for d in self.dwells)

    def approaching(self, track: Track, within_s: float) -> bool:
        """Whether ``track`` could reach one of the tripwires that watch its kind within
        ``within_s`` seconds at its speed (a track seen once: UNKNOWN_SPEED)."""
        wires = [w for w in self.tripwires if track.label in w.labels]
        if not wires:
            return False
        reach = max(NEAR, within_s * speed(track))
        foot = track.box.foot
        return any(distance_to_segment(foot, w.a, w.b) <= reach for w in wires)

    def check(self, tracks: list[Track], now: float) -> list[RuleEvent]:
        """The events of the tracks seen at ``now`` (the tracker's live tracks)."""
        out: list[RuleEvent] = []
        for track in tracks:
            if track.last != now:
                continue  # not seen in this frame: where it is now is not known
            for wire in self.tripwires:
                if track.label in wire.labels:
                    out += self._cross(track, wire)
            for dwell in self.dwells:
                out += self._dwell(track, dwell, now)
        live = {t.id for t in tracks}
        self._seen = {k: v for k, v in self._seen.items() if k[0] in live}
        self._dwelt = {k for k in self._dwelt if k[0] in live}
        return out

    def _cross(self, track: Track, wire: Tripwire) -> list[RuleEvent]:
        foot = track.box.foot
        now_side = wire.side_of(foot)
        if now_side == 0:
            return []
        seen = self._seen.get((track.id, wire.name))
        if seen is None:
            self._seen[(track.id, wire.name)] = _Seen(now_side, foot)
            return []
        was, before = seen.side, seen.foot
        seen.side, seen.foot = now_side, foot
        if was == now_side or not segments_cross(before, foot, wire.a, wire.b):
            return []  # the same side, or it went round the line's end
        direction = "a_to_b" if was < 0 else "b_to_a"
        if direction in seen.crossed or wire.direction not in ("both", direction):
            return []
        seen.crossed.add(direction)
        return [RuleEvent("tripwire", wire.name, track, wire.schedule, direction=direction)]

    def _dwell(self, track: Track, dwell: Dwell, now: float) -> list[RuleEvent]:
        since = track.inside_since.get(dwell.zone)
        key = (track.id, dwell.zone)
        # a track found where a stationary object was remembered was there before: told then
        if since is None or now - since < dwell.seconds or key in self._dwelt or track.parked:
            return []
        self._dwelt.add(key)
        kind = "parked" if track.label == "vehicle" else "loitering"
        return [RuleEvent(kind, dwell.zone, track, dwell.schedule, seconds=now - since)]


def speed(track: Track) -> float:
    """Of the picture a second, between its last two sightings."""
    if len(track.path) < 2:
        return UNKNOWN_SPEED
    (t0, x0, y0), (t1, x1, y1) = track.path[-2:]
    return math.dist((x0, y0), (x1, y1)) / (t1 - t0) if t1 > t0 else UNKNOWN_SPEED


def rules_for(cam: CameraConfig) -> Rules:
    wires = tuple(Tripwire(w.name, (w.line[0][0], w.line[0][1]), (w.line[1][0], w.line[1][1]),
                           w.direction, w.labels, w.schedule) for w in cam.tripwires)
    dwells = tuple(Dwell(z.name, float(z.dwell_seconds), z.schedule)
                   for z in cam.zones if z.dwell_seconds > 0)
    return Rules(wires, dwells)


def replay(rules: Rules, zones: dict[str, tuple[tuple[float, float], ...]],
           objects: list[tuple[str, float, float, list[tuple[float, float, float]]]]
           ) -> list[RuleEvent]:
    """What ``rules`` would have found in objects already seen: (label, box width, box
    height, path of (t, centre x, centre y)) — the detection events' stored paths, thinned
    beyond 100 points and of centres (the foot is placed half a box below), so this is an
    estimate for trying a rule before saving it, not a count."""
    out: list[RuleEvent] = []
    for number, (label, w, h, path) in enumerate(objects):
        if not path:
            continue
        t0, x0, y0 = path[0]
        box = Box(x0 - w / 2, y0 - h / 2, x0 + w / 2, y0 + h / 2)
        track = Track(number, label, t0, t0, box, Detection(label, 0, 1.0, box), t0, set())
        for t, x, y in path:
            track.last, track.box = t, Box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            now_in = {z for z, polygon in zones.items() if inside(track.box.foot, polygon)}
            track.inside = {z: (track.inside.get(z, (t, t))[0], t) for z in now_in}
            out += rules.check([track], t)
        rules.check([], path[-1][0])  # the object is gone: forget it
    return out
