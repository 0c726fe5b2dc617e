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


Op = Move | Lens | Preset | Home | HomeSetting | Cruise | Scan | Aux

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
    return f"{type(op).__name__.lower()} {op.op} group {op.group} value {op.value}"
