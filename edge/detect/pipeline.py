"""One camera's detection, frame by frame: motion gate -> model on the moving region ->
zones and filters -> tracker -> rules (tripwires, loitering). No I/O: the model is passed
in as a function, the time with each frame.

An object standing in a zone that times stays moves too little for the motion gate: while
one is there, the model also looks at where it stands every time, or its track would end and
its stay never add up.

How often a camera is looked at: while an object could reach one of its tripwires before
the next calm look, often enough that it moves at most NEAR_STEP of the picture between
two looks (a walker needs fewer looks than a car), and at ``detect.fps`` while one stands
at a line (it may start to run) — a crossing needs the object seen on both sides, and a
fast one seen seldom loses its track; otherwise once every CALM_EVERY_S (enough to
report an object and time a stay), and every QUIET_EVERY_S when nothing moves: looks are
what the detector's CPU goes on (bench/detect.py). While calm, a sub stream is not even
decoded between its keyframes when they come every KEYFRAMES_WHEN_CALM_S or oftener: its
keyframes are the calm looks then, and the horizon of "nearing a line" grows with them.
An object that appears and crosses within one calm look (stepping out of a door right at
the line) is not seen crossing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edge.config import CameraConfig, DetectConfig
from edge.detect.motion import MotionGate, MotionSettings, grey_small
from edge.detect.objects import Box, Detection
from edge.detect.rules import RuleEvent, rules_for, speed
from edge.detect.tracker import Tracker, TrackerSettings, Update
from edge.detect.zones import WHOLE_FRAME, Zone, zones_of

Model = Callable[[np.ndarray, Box], list[Detection]]
QUIET_LOOKS = 5  # looks in a row without motion, nothing tracked: the camera is quiet
QUIET_EVERY_S = 2.0  # and is looked at this often at most (a village night costs half)
CALM_EVERY_S = 1.0  # no object near a tripwire: looked at this often at most
# of the picture: an object nearing a tripwire moves at most this far between two looks
# (a third of the tracker's match distance: it keeps its track; the crossing is placed
# within this)
NEAR_STEP = 0.05
# a stream whose keyframes come at least this often is decoded on keyframes only while no
# object nears a line (decoding every frame is most of a calm sub stream's cost)
KEYFRAMES_WHEN_CALM_S = 2.5
MAX_DWELL_REGIONS = 3  # model runs a frame for objects standing in timed zones


@dataclass
class Counters:
    frames: int = 0
    moving: int = 0  # frames the gate let through
    near_line: int = 0  # frames looked at because an object neared a tripwire
    skipped: int = 0  # frames not decoded (calm, between keyframes)
    inferences: int = 0
    events: int = 0


def zones_for(cam: CameraConfig, detect: DetectConfig) -> tuple[Zone, ...]:
    """The camera's zones with the node's defaults filled in; none: the whole frame."""
    if not cam.zones:
        return (Zone("全画面", WHOLE_FRAME, detect.labels, detect.min_score),)
    return tuple(Zone(z.name, tuple((p[0], p[1]) for p in z.polygon), z.labels,
                      z.min_score or detect.min_score, z.min_area) for z in cam.zones)


class CameraPipeline:
    def __init__(self, cam: CameraConfig, detect: DetectConfig, model: Model,
                 frame_interval_s: float) -> None:
        """``frame_interval_s``: how far apart the frames it is given are (a sub stream at
        detect.fps, or keyframes every second or two)."""
        self.model = model
        self.every_s = 1.0 / detect.fps
        # how often it is looked at while no object nears a line: longer when the caller
        # decodes only keyframes then (a sub stream's keyframe interval)
        self.calm_every_s = CALM_EVERY_S
        self.last_key: float | None = None  # the stream's last keyframe
        self.key_looks = False  # its keyframes come often enough to be the calm looks
        self.last_t = float("-inf")
        self.still = 0  # looks in a row without motion
        self.zones = zones_for(cam, detect)
        self.masks = tuple(tuple((p[0], p[1]) for p in m) for m in cam.masks)
        self.gate = MotionGate(MotionSettings(threshold=detect.motion_threshold,
                                              min_area=detect.motion_min_area))
        # seen seldom (keyframes only): a track survives a few missed looks
        self.tracker = Tracker(TrackerSettings(max_age_s=max(8.0, 4 * frame_interval_s)))
        self.rules = rules_for(cam)
        self.counters = Counters()

    @property
    def quiet(self) -> bool:
        return self.still >= QUIET_LOOKS and not self.tracker.tracks

    def due(self, t: float) -> bool:
        """Whether the frame of time ``t`` should be looked at (decoded at all): at
        detect.fps while an object nears a tripwire, else every CALM_EVERY_S, and every
        QUIET_EVERY_S while nothing happens."""
        if self.quiet:
            every = max(QUIET_EVERY_S, self.calm_every_s)
        elif self.every_s >= self.calm_every_s:
            every = self.every_s
        else:
            every = min(self.calm_every_s, self.near_every(t) or self.calm_every_s)
        return t - self.last_t >= every * 0.9  # frames come a little early or late

    def to_decode(self, t: float, keyframe: bool) -> bool:
        """For a stream all of whose frames come here (a sub stream): whether the frame of
        time ``t`` must be decoded. Not between keyframes while no object nears a line, if
        keyframes come often enough to be the calm looks (the decoder starts again at the
        next one; whether an object nears a line changes only at a look, so every frame
        after a look that finds one is decoded)."""
        if keyframe:
            interval = None if self.last_key is None else t - self.last_key
            self.last_key = t
            if interval is not None and 0 < interval <= KEYFRAMES_WHEN_CALM_S:
                self.key_looks, self.calm_every_s = True, max(CALM_EVERY_S, interval)
            else:  # a long or unknown keyframe interval: every frame decoded, looks as usual
                self.key_looks, self.calm_every_s = False, CALM_EVERY_S
            return True
        if self.key_looks and not self.watching(t):
            self.counters.skipped += 1
            return False
        return True

    def watching(self, t: float) -> bool:
        """Whether an object seen lately could reach a tripwire before the next calm look
        (or the one after: a look can find nothing) and needs looks more often than that."""
        near = self.near_every(t)
        return near is not None and near < self.calm_every_s * 0.9

    def near_every(self, t: float) -> float | None:
        """How often to look for the objects nearing a tripwire (None: none is): each
        moves NEAR_STEP between looks, one at a line is looked at detect.fps."""
        horizon = 2 * self.calm_every_s
        paces = [self.every_s if self.rules.approaching(track, 0.0)
                 else NEAR_STEP / max(speed(track), 1e-6)
                 for track in self.tracker.tracks
                 if t - track.last < horizon and self.rules.approaching(track, horizon)]
        return max(self.every_s, min(paces)) if paces else None

    def frame(self, rgb: np.ndarray, now: float) -> tuple[Update, list[RuleEvent]]:
        self.counters.frames += 1
        if self.every_s < self.calm_every_s and self.watching(now):
            self.counters.near_line += 1
        self.last_t = now
        region = self.gate.update(grey_small(rgb))
        self.still = self.still + 1 if region is None else 0
        if region is not None:
            self.counters.moving += 1
        regions = ([region] if region is not None else []) + self._dwelling(region)
        found: list[tuple[Detection, list[str]]] = []
        for r in regions:
            self.counters.inferences += 1
            for d in self.model(rgb, r):  # an object in two regions is kept once
                if not any(d.label == f.label and d.box.iou(f.box) > 0.5 for f, _ in found):
                    found.append((d, zones_of(d, self.zones, self.masks)))
        update = self.tracker.update(found, now)
        events = self.rules.check(self.tracker.tracks, now) if self.rules else []
        self.counters.events += len(update.started) + len(events)
        return update, events

    def _dwelling(self, motion: Box | None) -> list[Box]:
        """Where the objects whose stay is timed stand and the motion region does not
        cover: each with its size again on every side (the model finds an object better
        with some surroundings, and far better in a crop than in the whole picture);
        overlapping ones merged, at most MAX_DWELL_REGIONS (else one around them all)."""
        boxes = [_grown(t.box) for t in self.tracker.tracks if self.rules.dwelling(t)
                 and not (motion is not None and _within(t.box, motion))]
        merged: list[Box] = []
        for box in boxes:
            for i, other in enumerate(merged):
                if box.iou(other) > 0:
                    merged[i] = _union([box, other])
                    break
            else:
                merged.append(box)
        return merged if len(merged) <= MAX_DWELL_REGIONS else [_union(merged)]


def _grown(b: Box) -> Box:
    dx, dy = b.x1 - b.x0, b.y1 - b.y0
    return Box(max(0.0, b.x0 - dx), max(0.0, b.y0 - dy), min(1.0, b.x1 + dx), min(1.0, b.y1 + dy))


def _union(boxes: list[Box]) -> Box:
    return Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes),
               max(b.y1 for b in boxes))


def _within(inner: Box, outer: Box) -> bool:
    return (inner.x0 >= outer.x0 and inner.y0 >= outer.y0 and inner.x1 <= outer.x1
            and inner.y1 <= outer.y1)
