"""One object crossing the scene is one event: detections are joined into tracks by box
overlap (IoU) or, for fast objects seen seldom (keyframes only), by centre distance.
Pure: the caller passes the time.

A track is reported once it was seen ``min_hits`` times; it ends ``max_age_s`` after it was
last seen, with its start, end, path and best-scored detection (once reported). An object that stood
still when it was last seen (a parked car, a person on a bench) is remembered where it
stood: when it is found there again (the motion gate let the model look because someone
walked past), it is not a new event — unless it then moves away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge.detect.objects import Box, Detection

MAX_PATH = 100  # points kept per track (the path is thinned beyond it)


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    max_age_s: float = 8.0
    min_hits: int = 2
    match_iou: float = 0.3
    match_distance: float = 0.15  # of the frame, centre to centre
    still: float = 0.3  # moved less than this (of its own size) between its last two
    # sightings: standing still (a box found in different crops jitters by ~10 %)
    parked_iou: float = 0.5
    parked_memory_s: float = 6 * 3600.0
    # a reported object's picture is replaced only by one scored this much higher: each
    # replacement is two JPEGs and a row written (on a busy street most of the events' cost)
    improve_by: float = 0.05


@dataclass
class Track:
    id: int
    label: str
    start: float
    last: float
    box: Box
    best: Detection
    best_ts: float
    zones: set[str]
    hits: int = 1
    path: list[tuple[float, float, float]] = field(default_factory=list)  # (t, x, y) centres
    parked: bool = False  # found where a stationary object was remembered
    reported: bool = False
    # zone -> (since, last seen in it): how long it has stayed (loitering); a frame or two
    # missed in it (a low score, a gap) does not start the clock again
    inside: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def inside_since(self) -> dict[str, float]:
        return {zone: since for zone, (since, _) in self.inside.items()}

    def moved(self) -> float:
        """Farthest the centre went from where the track began."""
        _, x0, y0 = self.path[0]
        return max(math.dist((x0, y0), (x, y)) for _, x, y in self.path)


@dataclass
class Update:
    started: list[Track] = field(default_factory=list)  # reported for the first time
    improved: list[Track] = field(default_factory=list)  # reported, with a better picture
    ended: list[Track] = field(default_factory=list)  # reported, and now gone


class Tracker:
    def __init__(self, settings: TrackerSettings = TrackerSettings()) -> None:
        self.s = settings
        self.tracks: list[Track] = []
        self.parked: list[tuple[str, Box, float]] = []  # (label, box, last seen)
        self._next_id = 1

    def update(self, found: list[tuple[Detection, list[str]]], now: float) -> Update:
        """Detections of one frame (each with the zones it is in) at time ``now``."""
        out = Update()
        unmatched = list(self.tracks)
        for det, zones in sorted(found, key=lambda f: -f[0].score):
            track = self._match(det, unmatched)
            if track is None:
                self._start(det, zones, now, out)
                continue
            unmatched.remove(track)
            self._extend(track, det, zones, now, out)
        for track in [t for t in self.tracks if now - t.last > self.s.max_age_s]:
            self.tracks.remove(track)
            self._remember(track)
            if track.reported:
                out.ended.append(track)
        self.parked = [p for p in self.parked if now - p[2] <= self.s.parked_memory_s]
        return out

    def flush(self) -> list[Track]:
        """End every track (the camera stopped): the reported ones."""
        ended = [t for t in self.tracks if t.reported]
        for track in self.tracks:
            self._remember(track)
        self.tracks = []
        return ended

    def _match(self, det: Detection, candidates: list[Track]) -> Track | None:
        best: tuple[float, Track] | None = None
        for track in candidates:
            if track.label != det.label:
                continue
            iou = track.box.iou(det.box)
            dist = math.dist(track.box.centre, det.box.centre)
            if iou >= self.s.match_iou or dist <= self.s.match_distance:
                score = iou - dist  # overlap first, then nearness
                if best is None or score > best[0]:
                    best = (score, track)
        return best[1] if best else None

    def _start(self, det: Detection, zones: list[str], now: float, out: Update) -> None:
        track = Track(self._next_id, det.label, now, now, det.box, det, now, set(zones))
        self._next_id += 1
        track.path.append((now, *det.box.centre))
        track.inside = {z: (now, now) for z in zones}
        for i, (label, box, _) in enumerate(self.parked):
            if label == det.label and box.iou(det.box) >= self.s.parked_iou:
                track.parked = True
                self.parked[i] = (label, box, now)
                break
        self.tracks.append(track)
        self._check_reported(track, out)

    def _extend(self, track: Track, det: Detection, zones: list[str], now: float,
                out: Update) -> None:
        track.hits += 1
        track.last = now
        track.box = det.box
        track.zones |= set(zones)
        track.inside = {z: (track.inside.get(z, (now, now))[0], now) for z in zones} | {
            z: (since, last) for z, (since, last) in track.inside.items()
            if z not in zones and now - last <= self.s.max_age_s}
        track.path.append((now, *det.box.centre))
        if len(track.path) > MAX_PATH:
            track.path = track.path[::2]
        # ``best`` is always of a frame at hand when it was set (the event's picture is
        # made then): before the report, the newest; after it, the best-scored
        if not track.reported or det.score >= track.best.score + self.s.improve_by:
            if track.reported:
                out.improved.append(track)
            track.best, track.best_ts = det, now
        if track.parked and track.moved() > 2 * self.s.still * _size(track.box):
            track.parked = False  # it drove off: that is worth an event
        self._check_reported(track, out)

    def _check_reported(self, track: Track, out: Update) -> None:
        if not track.reported and not track.parked and track.hits >= self.s.min_hits \
                and track.zones:
            track.reported = True
            out.started.append(track)

    def _remember(self, track: Track) -> None:
        """Where it stood still when last seen, it may be found again: not news."""
        if len(track.path) >= 2:
            (_, xa, ya), (_, xb, yb) = track.path[-2:]
            if math.dist((xa, ya), (xb, yb)) > self.s.still * _size(track.box):
                return
        elif not track.parked:
            return
        self.parked = [p for p in self.parked
                       if not (p[0] == track.label and p[1].iou(track.box) >= self.s.parked_iou)]
        self.parked.append((track.label, track.box, track.last))


def _size(box: Box) -> float:
    return max(box.x1 - box.x0, box.y1 - box.y0)
