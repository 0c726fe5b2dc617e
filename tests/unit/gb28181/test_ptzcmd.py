"""PTZCmd (GB/T 28181 A.3) decoded into the box's PTZ operations, and what DeviceControl
does with them for a steerable channel."""

import pytest

from edge.gb28181.answers import handle
from edge.gb28181.manscdp import ManscdpError, parse_body, render, render_group
from edge.gb28181.model import Channel, Node, QueryPresets, Steer
from edge.gb28181.ptzcmd import decode, encode, parse_ptz
from edge.ptz.ops import Aux, Cruise, DragZoom, HomeSetting, Lens, Move, Preset, Scan, relative

NODE = Node("34020000001180000001", "某村", "Asia/Shanghai")
DOME = Channel("34020000001320000001", "村口球机", True, True, ptz=True)


def op(*args: int):
    return decode(parse_ptz(encode(*args)))


def test_the_standards_example_is_a_pan_right() -> None:
    assert encode(0x01, 0x50) == "A50F010150000006"  # gb28181.md 3.7
    assert op(0x01, 0x50) == Move(pan=0x50 / 255)


@pytest.mark.parametrize("code, move", [
    (0x02, Move(pan=-1.0)), (0x04, Move(tilt=-1.0)), (0x08, Move(tilt=1.0)),
    (0x0A, Move(pan=-1.0, tilt=1.0)), (0x00, Move()),
])
def test_directions_and_speeds(code: int, move: Move) -> None:
    assert op(code, 0xFF, 0xFF) == move


def test_zoom_speed_is_the_high_nibble_of_byte_7_and_zero_speed_means_default() -> None:
    assert op(0x10, 0, 0, 15) == Move(zoom=1.0)
    assert op(0x20, 0, 0, 0) == Move(zoom=-0.5)
    assert parse_ptz(encode(0x10, 0, 0, 15, address=0x123)).address == 0x123


def test_focus_iris_presets_cruise_scan_aux() -> None:
    assert op(0x41, 0xFF) == Lens(focus=1.0) and op(0x42, 0xFF) == Lens(focus=-1.0)
    assert op(0x48, 0, 0xFF) == Lens(iris=1.0) and op(0x44, 0, 0xFF) == Lens(iris=-1.0)
    assert op(0x40) == Lens()
    assert [op(c, 0, 9) for c in (0x81, 0x82, 0x83)] == [
        Preset("set", 9), Preset("call", 9), Preset("delete", 9)]
    assert op(0x84, 2, 5) == Cruise("add", 2, 5) and op(0x88, 2) == Cruise("start", 2)
    assert op(0x87, 2, 0x2C, 1) == Cruise("dwell", 2, 300)  # 12 bits: 0x12C seconds
    assert op(0x89, 1, 2) == Scan("right", 1) and op(0x8A, 1, 10) == Scan("speed", 1, 10)
    assert op(0x8C, 1) == Aux(1, True) and op(0x8D, 1) == Aux(1, False)


@pytest.mark.parametrize("args, reason", [
    ((0x03,), "opposite"), ((0x0C,), "opposite"), ((0x30,), "opposite"), ((0x43,), "opposite"),
    ((0x81, 0, 0), "preset number 0"), ((0x89, 1, 3), "scan"), ((0x9F,), "not in GB/T 28181"),
])
def test_impossible_instructions_are_refused(args: tuple[int, ...], reason: str) -> None:
    with pytest.raises(ManscdpError, match=reason):
        op(*args)


def control(inner: str = "", fields: list[tuple[str, str]] = (), target: str = DOME.id):
    msg = parse_body(render("Control", "DeviceControl", 5, target, fields, inner))
    outcome = handle(msg, NODE, [DOME], lambda *a: [], 0.0)
    return parse_body(outcome.bodies[0]).fields["Result"], outcome


def test_a_steerable_channel_gets_the_operation_for_its_camera() -> None:
    result, outcome = control(fields=[("PTZCmd", encode(0x82, 0, 4))])
    assert (result, outcome.actions) == ("OK", [Steer(DOME.id, Preset("call", 4))])


def test_home_position_is_checked_and_handed_on() -> None:
    inner = render_group("HomePosition", [("Enabled", "1"), ("ResetTime", "60"),
                                          ("PresetIndex", "2")])
    assert control(inner)[1].actions == [Steer(DOME.id, HomeSetting(True, 60, 2))]
    off = render_group("HomePosition", [("Enabled", "0")])
    assert control(off)[1].actions == [Steer(DOME.id, HomeSetting(False))]
    for bad in ([("Enabled", "1")], [("Enabled", "２")],
                [("Enabled", "1"), ("ResetTime", "60"), ("PresetIndex", "300")]):
        result, outcome = control(render_group("HomePosition", bad))
        assert result == "ERROR" and not outcome.actions and "HomePosition" in outcome.note


def test_preset_query_for_a_dome_asks_the_camera() -> None:
    msg = parse_body(render("Query", "PresetQuery", 8, DOME.id))
    outcome = handle(msg, NODE, [DOME], lambda *a: [], 0.0)
    assert outcome.bodies == [] and outcome.actions == [QueryPresets(DOME.id, 8)]


def _drag(tag: str, *numbers: str) -> str:
    names = ("Length", "Width", "MidPointX", "MidPointY", "LengthX", "LengthY")
    return render_group(tag, list(zip(names, numbers)))


def test_drag_zoom_becomes_one_relative_move_toward_the_box() -> None:
    """拉框放大: a 480x270 box drawn right of and above the middle of a 1920x1080 picture
    is a move right and up with a zoom in; 拉框缩小 zooms out by the same step."""
    result, outcome = control(_drag("DragZoomIn", "1920", "1080", "1440", "270", "480", "270"))
    [steer] = outcome.actions
    assert result == "OK" and steer.op == DragZoom(True, 0.75, 0.25, 0.25)
    pan, tilt, zoom = relative(steer.op)
    assert pan > 0 and tilt > 0 and zoom > 0
    out = control(_drag("DragZoomOut", "1920", "1080", "960", "540", "480", "270"))[1].actions
    assert relative(out[0].op) == (0.0, 0.0, -zoom)  # centred: no pan or tilt
    for bad in (("1920", "1080", "2000", "270", "480", "270"),  # centre outside
                ("0", "1080", "10", "10", "10", "10"),
                ("1920", "1080", "１４40", "270", "480", "270"),  # full-width digits
                ("1920", "1080", "1440")):  # fields missing
        result, outcome = control(_drag("DragZoomIn", *bad))
        assert result == "ERROR" and not outcome.actions and "DragZoomIn" in outcome.note
