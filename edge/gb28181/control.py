"""Control commands from an upper platform: DeviceControl and DeviceConfig (GB/T 28181
A.2.3, A.3). Pure: returns the Response bodies and the actions for the runner.

A command the node cannot carry out is answered ``Result ERROR`` rather than silently
accepted, so the platform operator sees it failed (e.g. PTZ on a fixed camera).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.digits import is_digits
from edge.gb28181.manscdp import ManscdpError, ManscdpMessage, render
from edge.gb28181.model import (
    Action, ApplyBasicParam, Channel, ManualRecord, Node, Outcome, Reboot, RequestKeyframe,
    ResetAlarm, SetGuard,
)

# limits for values a platform may set (keepalive >= 5 s, as the config demands)
MIN_EXPIRES_S, MAX_EXPIRES_S = 60, 86_400
MIN_HEARTBEAT_S, MAX_HEARTBEAT_S = 5, 3600
MAX_HEARTBEAT_COUNT = 100
MAX_NAME_CHARS = 64
# on/off commands per channel: element -> (value -> on?, the action)
_SWITCHES: dict[str, tuple[dict[str, bool], type[ManualRecord] | type[SetGuard]]] = {
    "RecordCmd": ({"Record": True, "StopRecord": False}, ManualRecord),
    "GuardCmd": ({"SetGuard": True, "ResetGuard": False}, SetGuard),
}


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


def device_control(query: ManscdpMessage, node: Node, channels: list[Channel]) -> Outcome:
    """DeviceControl addressed to the node (all channels) or to one channel."""
    target = query.device_id
    channel = next((c for c in channels if c.id == target), None)
    if channel is None and target != node.id:
        return _result(query, node, False, f"DeviceControl for unknown device {target!r}")
    targets = [channel] if channel else channels
    fields = query.fields
    if "PTZCmd" in fields:
        try:
            ptz = parse_ptz(fields["PTZCmd"])
        except ManscdpError as exc:
            return _result(query, node, False, str(exc))
        # a device without PTZ says so; there is no PTZ control path yet for any camera
        return _result(query, node, False,
                       f"PTZ instruction {ptz.instruction:02X} for {target}: camera has no PTZ")
    if "TeleBoot" in fields:
        if fields["TeleBoot"] != "Boot":
            return _result(query, node, False, f"TeleBoot {fields['TeleBoot']!r} is not Boot")
        if node.link is None or not node.link.allow_reboot:
            return _result(query, node, False,
                           "TeleBoot refused: platforms.allow_reboot is off for this platform")
        return _result(query, node, True, "TeleBoot accepted", [Reboot()])
    for command, (values, action) in _SWITCHES.items():
        if command in fields:
            on = values.get(fields[command])
            if on is None:
                return _result(query, node, False, f"{command} {fields[command]!r} is unknown")
            return _result(query, node, True, f"{command} {fields[command]}",
                           [action(c.id, on) for c in targets])
    if "AlarmCmd" in fields:
        if fields["AlarmCmd"] != "ResetAlarm":
            return _result(query, node, False, f"AlarmCmd {fields['AlarmCmd']!r} is unknown")
        return _result(query, node, True, "AlarmCmd ResetAlarm",
                       [ResetAlarm(c.id) for c in targets])
    if "IFameCmd" in fields or "IFrameCmd" in fields:
        # the standard requires no response body for a keyframe request
        return Outcome([], [RequestKeyframe(c.id) for c in targets], "IFameCmd Send")
    return _result(query, node, False, f"DeviceControl {_commands(query)} is not supported")


def device_config(query: ManscdpMessage, node: Node) -> Outcome:
    """DeviceConfig BasicParam: Name, Expiration, HeartBeatInterval, HeartBeatCount."""
    basic = query.element.find("BasicParam") if query.element is not None else None
    if basic is None:
        return _result(query, node, False, f"DeviceConfig {_commands(query)} is not supported")
    values = {c.tag: (c.text or "").strip() for c in basic}
    problems: list[str] = []
    name = values.get("Name") or None
    if name is not None and len(name) > MAX_NAME_CHARS:
        problems.append(f"Name longer than {MAX_NAME_CHARS} characters")
    expires = _bounded(values, "Expiration", MIN_EXPIRES_S, MAX_EXPIRES_S, problems)
    interval = _bounded(values, "HeartBeatInterval", MIN_HEARTBEAT_S, MAX_HEARTBEAT_S, problems)
    count = _bounded(values, "HeartBeatCount", 1, MAX_HEARTBEAT_COUNT, problems)
    if problems:
        return _result(query, node, False, "DeviceConfig BasicParam refused: " + "; ".join(problems))
    change = ApplyBasicParam(name, expires, interval, count)
    if change == ApplyBasicParam():
        return _result(query, node, False, "DeviceConfig BasicParam sets nothing we support")
    return _result(query, node, True, f"DeviceConfig BasicParam {change}", [change])


def _commands(query: ManscdpMessage) -> str:
    tags = [c.tag for c in query.element if c.tag not in ("CmdType", "SN", "DeviceID")] \
        if query.element is not None else []
    return "/".join(tags) or "(empty)"


def _bounded(values: dict[str, str], key: str, low: int, high: int,
             problems: list[str]) -> int | None:
    text = values.get(key, "")
    if not text:
        return None
    if not is_digits(text) or len(text) > 12 or not low <= int(text) <= high:
        problems.append(f"{key} {text!r} not within {low}..{high}")
        return None
    return int(text)


def _result(query: ManscdpMessage, node: Node, ok: bool, note: str,
            actions: list[Action] | None = None) -> Outcome:
    body = render("Response", query.cmd_type, query.sn, query.device_id,
                  [("Result", "OK" if ok else "ERROR")], charset=node.charset)
    return Outcome([body], actions or [], note)
