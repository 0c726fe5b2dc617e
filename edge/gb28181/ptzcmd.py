"""GB/T 28181 PTZCmd (A.3): the 8-byte front-end instruction, decoded into the operations
of ``edge.ptz.ops``, and encoded the way WVP's ``SIPCommander.frontEndCmdString`` does (for
the scripted platform and ``edge ptz --gb``). Pure.

Byte 4 is the instruction: ``00ZZTTPP`` pan/tilt/zoom (bit0 right, bit1 left, bit2 down,
bit3 up, bit4 zoom in, bit5 zoom out; data1 pan speed, data2 tilt speed, data3 zoom speed
0-15; 0x00 stop), ``0x4X`` focus/iris (0x41 far, 0x42 near, 0x44 iris close, 0x48 iris
open; data1 focus speed, data2 iris speed), 0x81-0x83 presets (data2), 0x84-0x88 cruise,
0x89-0x8A scan, 0x8C/0x8D auxiliary switch (data1).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.gb28181.manscdp import ManscdpError
from edge.ptz.ops import MAX_PRESET, Aux, Cruise, Lens, Move, Op, Preset, Scan

DEFAULT_FRACTION = 0.5  # a direction sent with speed 0: older platforms mean "default"


@dataclass(frozen=True, slots=True)
class PtzCommand:
    """An 8-byte PTZCmd (A.3.1): byte 4 is the instruction, 5-7 its data."""

    address: int
    instruction: int
    data1: int
    data2: int
    data3: int  # zoom speed, 0-15


def parse_ptz(text: str) -> PtzCommand:
    """Validate the ``A50F...`` hex string, its header byte and its checksum."""
    text = text.strip()[:64]
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ManscdpError(f"PTZCmd {text!r} is not hexadecimal") from None
    if len(raw) != 8:
        raise ManscdpError(f"PTZCmd {text!r} has {len(raw)} bytes, expected 8")
    if raw[0] != 0xA5 or (raw[1] & 0x0F) != ((0xA + 0x5 + (raw[1] >> 4)) & 0x0F):
        raise ManscdpError(f"PTZCmd {text!r} does not start with A5 and its check nibble")
    if sum(raw[:7]) % 256 != raw[7]:
        raise ManscdpError(f"PTZCmd {text!r} checksum {raw[7]:02X} is wrong, "
                           f"expected {sum(raw[:7]) % 256:02X}")
    return PtzCommand(raw[2] | (raw[6] & 0x0F) << 8, raw[3], raw[4], raw[5], raw[6] >> 4)


def _speed(value: int, full: int) -> float:
    return value / full if value else DEFAULT_FRACTION


def decode(cmd: PtzCommand) -> Op:
    """The operation a PTZCmd asks for; ManscdpError for an instruction A.3 does not have."""
    code, d1, d2 = cmd.instruction, cmd.data1, cmd.data2
    if code & 0xC0 == 0:  # pan/tilt/zoom
        if code & 0b11 == 0b11 or code & 0b1100 == 0b1100 or code & 0b110000 == 0b110000:
            raise ManscdpError(f"PTZ instruction {code:02X} asks for opposite directions at once")
        pan = (code & 1) - (code >> 1 & 1)
        tilt = (code >> 3 & 1) - (code >> 2 & 1)
        zoom = (code >> 4 & 1) - (code >> 5 & 1)
        return Move(pan * _speed(d1, 255) if pan else 0.0, tilt * _speed(d2, 255) if tilt else 0.0,
                    zoom * _speed(cmd.data3, 15) if zoom else 0.0)
    if code & 0xF0 == 0x40:  # focus/iris
        if code & 0b11 == 0b11 or code & 0b1100 == 0b1100:
            raise ManscdpError(f"FI instruction {code:02X} asks for opposite directions at once")
        focus = (code & 1) - (code >> 1 & 1)
        iris = (code >> 3 & 1) - (code >> 2 & 1)
        return Lens(focus * _speed(d1, 255) if focus else 0.0,
                    iris * _speed(d2, 255) if iris else 0.0)
    if code in (0x81, 0x82, 0x83):
        if not 1 <= d2 <= MAX_PRESET:
            raise ManscdpError(f"preset number {d2} is not within 1..{MAX_PRESET}")
        return Preset(("set", "call", "delete")[code - 0x81], d2)
    long_value = d2 | cmd.data3 << 8  # speed and dwell: 12 bits, data3 the high 4
    if code == 0x84:
        return Cruise("add", d1, d2)
    if code == 0x85:
        return Cruise("delete", d1, d2)
    if code == 0x86:
        return Cruise("speed", d1, long_value)
    if code == 0x87:
        return Cruise("dwell", d1, long_value)
    if code == 0x88:
        return Cruise("start", d1)
    if code == 0x89:
        if d2 > 2:
            raise ManscdpError(f"scan instruction data {d2} is not 0 (start), 1 (left) or 2 (right)")
        return Scan(("start", "left", "right")[d2], d1)
    if code == 0x8A:
        return Scan("speed", d1, long_value)
    if code in (0x8C, 0x8D):
        return Aux(d1, code == 0x8C)
    raise ManscdpError(f"PTZ instruction {code:02X} is not in GB/T 28181 A.3")


def encode(instruction: int, data1: int = 0, data2: int = 0, data3: int = 0,
           address: int = 1) -> str:
    """The hex string a platform sends: ``A50F`` + address, instruction, data, checksum."""
    raw = [0xA5, 0x0F, address & 0xFF, instruction & 0xFF, data1 & 0xFF, data2 & 0xFF,
           (data3 & 0x0F) << 4 | (address >> 8 & 0x0F)]
    return bytes(raw + [sum(raw) % 256]).hex().upper()
