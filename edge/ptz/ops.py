"""What can be asked of a dome, whoever asks (GB/T 28181 PTZCmd, the web UI's pad, ``edge
ptz``). Pure values: speeds are fractions -1..1 as ONVIF takes them, numbers are checked
where the operation is made, so a carrier (ONVIF) never sees an out-of-range value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAX_PRESET = 255  # GB/T 28181 A.3.4: one byte
MAX_GROUP = 255


@dataclass(frozen=True, slots=True)
class Move:
    """Continuous pan/tilt/zoom (right, up and zoom-in positive); all zero is a stop."""

    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0

    @property
    def is_stop(self) -> bool:
        return self.pan == self.tilt == self.zoom == 0.0


@dataclass(frozen=True, slots=True)
class Lens:
    """Continuous focus (far positive) and iris (open positive); both zero is a stop."""

    focus: float = 0.0
    iris: float = 0.0

    @property
    def is_stop(self) -> bool:
        return self.focus == self.iris == 0.0


@dataclass(frozen=True, slots=True)
class Preset:
    op: Literal["set", "call", "delete"]
    number: int  # 1..255


@dataclass(frozen=True, slots=True)
class Home:
    """Go to the home position (the camera's, or the configured home preset)."""


@dataclass(frozen=True, slots=True)
class HomeSetting:
    """GB/T 28181 HomePosition: an idle dome returns to ``preset`` after ``seconds``."""

    enabled: bool
    seconds: int = 0
    preset: int = 0


@dataclass(frozen=True, slots=True)
class Cruise:
    """A tour over presets, run on the box: add/delete a point (``value`` the preset; 0
    with delete: the whole tour), speed, dwell seconds, start."""

    op: Literal["add", "delete", "speed", "dwell", "start"]
    group: int
    value: int = 0


@dataclass(frozen=True, slots=True)
class Scan:
    """Auto scan between two pan limits: start, set left/right limit here, speed."""

    op: Literal["start", "left", "right", "speed"]
    group: int
    value: int = 0


@dataclass(frozen=True, slots=True)
class Aux:
    """An auxiliary switch (1: wiper) on or off."""

    number: int
    on: bool


@dataclass(frozen=True, slots=True)
class DragZoom:
    """GB/T 28181 DragZoomIn/DragZoomOut (拉框放大/缩小): a box drawn on the picture, as
    fractions of it — its centre (``x`` right, ``y`` down, 0..1) and its size (0..1]."""

    zoom_in: bool
    x: float
    y: float
    size: float


Op = Move | Lens | Preset | Home | HomeSetting | Cruise | Scan | Aux | DragZoom

# one ONVIF RelativeMove in the generic spaces brings a drawn box's centre to the middle:
# the generic pan range -1..1 is 360 degrees on most domes, a picture at the wide end some
# 60 (tilt: 35 of 180); the zoom step grows as the box shrinks. Without the lens's field
# of view at the current zoom (ONVIF does not say it) this is approximate, as on NVRs that
# do it the same way.
PAN_PER_PICTURE, TILT_PER_PICTURE, ZOOM_PER_DRAG = 0.33, 0.39, 0.5
MAX_DRAG_PIXELS = 100_000

# the web UI's and the CLI's words for the moves (speed 1-8, as NVR pads have)
DIRECTIONS: dict[str, tuple[int, int, int]] = {
    "left": (-1, 0, 0), "right": (1, 0, 0), "up": (0, 1, 0), "down": (0, -1, 0),
    "up-left": (-1, 1, 0), "up-right": (1, 1, 0), "down-left": (-1, -1, 0),
    "down-right": (1, -1, 0), "zoom-in": (0, 0, 1), "zoom-out": (0, 0, -1), "stop": (0, 0, 0),
}
LENS: dict[str, tuple[int, int]] = {
    "focus-far": (1, 0), "focus-near": (-1, 0), "iris-open": (0, 1), "iris-close": (0, -1),
    "lens-stop": (0, 0),
}
MAX_SPEED = 8


class PtzError(ValueError):
    """An operation that cannot be made or carried out, with why."""


def named(word: str, speed: int = 4) -> Move | Lens:
    """``left``/``zoom-in``/``focus-far``/... at ``speed`` 1..8."""
    if not 1 <= speed <= MAX_SPEED:
        raise PtzError(f"速度应为 1–{MAX_SPEED} speed must be 1..{MAX_SPEED}, got {speed}")
    fraction = speed / MAX_SPEED
    if word in DIRECTIONS:
        pan, tilt, zoom = DIRECTIONS[word]
        return Move(pan * fraction, tilt * fraction, zoom * fraction)
    if word in LENS:
        focus, iris = LENS[word]
        return Lens(focus * fraction, iris * fraction)
    raise PtzError(f"未知的云台动作 unknown PTZ action {word[:32]!r}")


def preset(op: Literal["set", "call", "delete"], number: int) -> Preset:
    if not 1 <= number <= MAX_PRESET:
        raise PtzError(f"预置位应为 1–{MAX_PRESET} preset must be 1..{MAX_PRESET}, got {number}")
    return Preset(op, number)


ACTIONS = (*DIRECTIONS, *LENS, "preset-call", "preset-set", "preset-del", "home")


def action(word: str, number: int = 0, speed: int = 4) -> Op:
    """The web pad's and ``edge ptz``'s words: a direction or lens word at ``speed``,
    ``preset-call``/``preset-set``/``preset-del`` ``number``, or ``home``."""
    if word == "home":
        return Home()
    kinds: dict[str, Literal["set", "call", "delete"]] = {
        "preset-call": "call", "preset-set": "set", "preset-del": "delete"}
    if word in kinds:
        return preset(kinds[word], number)
    return named(word, speed)


def drag_zoom(zoom_in: bool, length: int, width: int, mid_x: int, mid_y: int,
              length_x: int, length_y: int) -> DragZoom:
    """The platform's numbers (pixels of a ``length`` x ``width`` picture) as a DragZoom."""
    if not (0 < length <= MAX_DRAG_PIXELS and 0 < width <= MAX_DRAG_PIXELS):
        raise PtzError(f"拉框画面尺寸无效 drag zoom picture {length}x{width} out of range")
    if not (0 <= mid_x <= length and 0 <= mid_y <= width and 0 < length_x <= length
            and 0 < length_y <= width):
        raise PtzError("拉框超出画面 drag zoom box outside the picture")
    return DragZoom(zoom_in, mid_x / length, mid_y / width,
                    max(length_x / length, length_y / width))


def relative(op: DragZoom) -> tuple[float, float, float]:
    """The RelativeMove (pan, tilt, zoom) for a drawn box."""
    step = (1.0 - op.size) * ZOOM_PER_DRAG
    return (round((op.x - 0.5) * PAN_PER_PICTURE, 4), round((0.5 - op.y) * TILT_PER_PICTURE, 4),
            round(step if op.zoom_in else -step, 4))


def describe(op: Op) -> str:
    """One line for the audit log and the journal."""
    if isinstance(op, Move):
        return "stop" if op.is_stop else f"move pan={op.pan:+.2f} tilt={op.tilt:+.2f} zoom={op.zoom:+.2f}"
    if isinstance(op, Lens):
        return "lens stop" if op.is_stop else f"lens focus={op.focus:+.2f} iris={op.iris:+.2f}"
    if isinstance(op, Preset):
        return f"preset {op.op} {op.number}"
    if isinstance(op, Home):
        return "home"
    if isinstance(op, HomeSetting):
        return (f"home position: preset {op.preset} after {op.seconds} s" if op.enabled
                else "home position off")
    if isinstance(op, Aux):
        return f"aux {op.number} {'on' if op.on else 'off'}"
    if isinstance(op, DragZoom):
        return (f"drag zoom {'in' if op.zoom_in else 'out'} at ({op.x:.2f}, {op.y:.2f}) "
                f"size {op.size:.2f}")
    return f"{type(op).__name__.lower()} {op.op} group {op.group} value {op.value}"
