"""Control commands from an upper platform: DeviceControl and DeviceConfig (GB/T 28181
A.2.3, A.3). Pure: returns the Response bodies and the actions for the runner.

A command the node cannot carry out is answered ``Result ERROR`` rather than silently
accepted, so the platform operator sees it failed (e.g. PTZ on a fixed camera).
"""

from __future__ import annotations

from edge.digits import is_digits
from edge.gb28181.manscdp import ManscdpError, ManscdpMessage, render
from edge.gb28181.model import (
    Action, ApplyBasicParam, Channel, ManualRecord, Node, Outcome, Reboot, RequestKeyframe,
    ResetAlarm, SetGuard, Steer,
)
from edge.gb28181.ptzcmd import decode, parse_ptz
from edge.ptz.ops import MAX_DRAG_PIXELS, MAX_PRESET, DragZoom, HomeSetting, PtzError, drag_zoom

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


def device_control(query: ManscdpMessage, node: Node, channels: list[Channel]) -> Outcome:
    """DeviceControl addressed to the node (all channels) or to one channel."""
    target = query.device_id
    channel = next((c for c in channels if c.id == target), None)
    if channel is None and target != node.id:
        return _result(query, node, False, f"DeviceControl for unknown device {target!r}")
    targets = [channel] if channel else channels
    fields = query.fields
    if "PTZCmd" in fields or (query.element is not None and any(
            query.element.find(tag) is not None for tag in ("HomePosition", *DRAG_ZOOM))):
        return _steer(query, node, channel)
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


def _steer(query: ManscdpMessage, node: Node, channel: Channel | None) -> Outcome:
    """PTZCmd or HomePosition for one channel: checked here, carried out by the runner
    (through ONVIF) after "Result OK" has been decided."""
    try:
        if "PTZCmd" in query.fields:
            op = decode(parse_ptz(query.fields["PTZCmd"]))
        elif query.element is not None and query.element.find("HomePosition") is not None:
            op = _home_position(query)
        else:
            op = _drag_zoom(query)
    except ManscdpError as exc:
        return _result(query, node, False, f"{query.device_id}: {exc}")
    if channel is None:
        return _result(query, node, False, "PTZ is for a channel, not for the whole node")
    if not channel.ptz:
        return _result(query, node, False, f"{channel.id}: camera has no PTZ (no onvif address)")
    return _result(query, node, True, f"{channel.id} PTZ {op}", [Steer(channel.id, op)])


DRAG_ZOOM = {"DragZoomIn": True, "DragZoomOut": False}  # 拉框放大 / 拉框缩小 (A.2.3)
DRAG_FIELDS = ("Length", "Width", "MidPointX", "MidPointY", "LengthX", "LengthY")


def _drag_zoom(query: ManscdpMessage) -> DragZoom:
    """<DragZoomIn><Length>..<Width>..<MidPointX>..<MidPointY>..<LengthX>..<LengthY>.."""
    assert query.element is not None
    tag = next(t for t in DRAG_ZOOM if query.element.find(t) is not None)
    box = query.element.find(tag)
    values = {c.tag: (c.text or "").strip() for c in box} if box is not None else {}
    problems: list[str] = []
    numbers = [_bounded(values, name, 0, MAX_DRAG_PIXELS, problems) for name in DRAG_FIELDS]
    if problems or any(n is None for n in numbers):
        raise ManscdpError(f"{tag}: " + ("; ".join(problems) or
                                         f"needs {', '.join(DRAG_FIELDS)}"))
    try:
        return drag_zoom(DRAG_ZOOM[tag], *(n or 0 for n in numbers))
    except PtzError as exc:
        raise ManscdpError(f"{tag}: {exc}") from None


def _home_position(query: ManscdpMessage) -> HomeSetting:
    """<HomePosition><Enabled>1</Enabled><ResetTime>60</ResetTime><PresetIndex>1</...>"""
    home = query.element.find("HomePosition") if query.element is not None else None
    values = {c.tag: (c.text or "").strip() for c in home} if home is not None else {}
    problems: list[str] = []
    enabled = values.get("Enabled", "")
    if enabled not in ("0", "1"):
        raise ManscdpError(f"HomePosition Enabled {enabled[:8]!r} is not 0 or 1")
    seconds = _bounded(values, "ResetTime", 1, 86_400, problems)
    preset = _bounded(values, "PresetIndex", 1, MAX_PRESET, problems)
    if problems:
        raise ManscdpError("HomePosition: " + "; ".join(problems))
    if enabled == "1" and (seconds is None or preset is None):
        raise ManscdpError("HomePosition Enabled 1 needs ResetTime and PresetIndex")
    return HomeSetting(enabled == "1", seconds or 0, preset or 0)


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
