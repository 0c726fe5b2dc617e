"""DeviceControl and DeviceConfig: results and the actions they ask of the runner."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.gb28181.ptzcmd import parse_ptz
from edge.gb28181.answers import handle
from edge.gb28181.manscdp import ManscdpError, parse_body, render, render_group
from edge.gb28181.model import (
    ApplyBasicParam, Channel, Link, ManualRecord, Node, Outcome, Reboot, RequestKeyframe,
    ResetAlarm, SetGuard,
)

LINK = Link("34020000002000000001", "10.0.0.1", 5060, "3402000000", 3600, 60, 3)
NODE = Node("34020000001180000001", "某村监控室", "Asia/Shanghai", link=LINK)
CHANNELS = [Channel("34020000001320000001", "村口", True, True),
            Channel("34020000001320000002", "村委会", True, True)]


def control(fields: list[tuple[str, str]], target: str = NODE.id, node: Node = NODE,
            cmd: str = "DeviceControl", inner: str = "") -> tuple[str, Outcome]:
    msg = parse_body(render("Control", cmd, 21, target, fields, inner))
    outcome = handle(msg, node, CHANNELS, lambda *a: [], 0.0)
    if not outcome.bodies:
        return "", outcome
    [body] = outcome.bodies
    reply = parse_body(body)
    assert (reply.root, reply.cmd_type, reply.sn, reply.device_id) == ("Response", cmd, 21, target)
    return reply.fields["Result"], outcome


def test_ptz_command_from_the_standard_parses() -> None:
    cmd = parse_ptz("A50F010150000006")  # pan right at speed 0x50 (gb28181.md 3.7)
    assert (cmd.address, cmd.instruction, cmd.data1, cmd.data2, cmd.data3) == (1, 1, 0x50, 0, 0)


@given(st.binary(min_size=5, max_size=5), st.integers(0, 255))
def test_ptz_checksum_is_checked(payload: bytes, wrong: int) -> None:
    head = bytes([0xA5, 0x0F]) + payload
    good = head + bytes([sum(head) % 256])
    assert parse_ptz(good.hex().upper()).instruction == payload[1]
    if wrong != sum(head) % 256:
        with pytest.raises(ManscdpError, match="checksum"):
            parse_ptz((head + bytes([wrong])).hex())


@pytest.mark.parametrize("text", ["", "A50F", "ZZ0F010150000006", "B50F010150000006"])
def test_malformed_ptz_commands_are_refused(text: str) -> None:
    with pytest.raises(ManscdpError, match="PTZCmd"):
        parse_ptz(text)


def test_ptz_on_a_fixed_camera_is_an_error_with_the_reason() -> None:
    result, outcome = control([("PTZCmd", "A50F010150000006")], CHANNELS[0].id)
    assert result == "ERROR" and "has no PTZ" in outcome.note and not outcome.actions
    result, outcome = control([("PTZCmd", "A50F010150000007")], CHANNELS[0].id)
    assert result == "ERROR" and "checksum" in outcome.note


def test_record_cmd_targets_one_channel_or_all() -> None:
    result, outcome = control([("RecordCmd", "Record")], CHANNELS[1].id)
    assert (result, outcome.actions) == ("OK", [ManualRecord(CHANNELS[1].id, True)])
    result, outcome = control([("RecordCmd", "StopRecord")])
    assert outcome.actions == [ManualRecord(c.id, False) for c in CHANNELS]
    assert control([("RecordCmd", "Pause")])[0] == "ERROR"


def test_guard_and_alarm_reset() -> None:
    assert control([("GuardCmd", "ResetGuard")], CHANNELS[0].id)[1].actions == [
        SetGuard(CHANNELS[0].id, False)]
    assert control([("GuardCmd", "SetGuard")])[1].actions == [SetGuard(c.id, True) for c in CHANNELS]
    result, outcome = control([("AlarmCmd", "ResetAlarm")], CHANNELS[0].id)
    assert (result, outcome.actions) == ("OK", [ResetAlarm(CHANNELS[0].id)])


def test_teleboot_only_where_the_platform_is_allowed_to() -> None:
    result, outcome = control([("TeleBoot", "Boot")])
    assert result == "ERROR" and "allow_reboot" in outcome.note and not outcome.actions
    allowed = Node(NODE.id, NODE.name, NODE.timezone, link=Link(
        LINK.server_id, LINK.host, LINK.port, LINK.domain, 3600, 60, 3, allow_reboot=True))
    assert control([("TeleBoot", "Boot")], node=allowed)[1].actions == [Reboot()]


def test_keyframe_request_needs_no_response_body() -> None:
    result, outcome = control([("IFameCmd", "Send")], CHANNELS[0].id)
    assert result == "" and outcome.actions == [RequestKeyframe(CHANNELS[0].id)]


def test_control_for_an_unknown_device_or_command_is_an_error() -> None:
    result, outcome = control([("RecordCmd", "Record")], "34020000001320000099")
    assert result == "ERROR" and "unknown device" in outcome.note
    result, outcome = control([("FormatSDCard", "1")])
    assert result == "ERROR" and "FormatSDCard is not supported" in outcome.note


def test_device_config_basic_param_applies_only_what_was_sent() -> None:
    inner = render_group("BasicParam", [("Name", "新名字"), ("HeartBeatInterval", "30")])
    result, outcome = control([], cmd="DeviceConfig", inner=inner)
    assert (result, outcome.actions) == ("OK", [ApplyBasicParam("新名字", None, 30, None)])


@pytest.mark.parametrize("fields, reason", [
    ([("HeartBeatInterval", "1")], "HeartBeatInterval '1' not within 5..3600"),
    ([("Expiration", "abc")], "Expiration 'abc' not within"),
    ([("Name", "名" * 65)], "Name longer than 64"),
    ([("Password", "x")], "sets nothing we support"),
])
def test_device_config_refuses_bad_values(fields: list[tuple[str, str]], reason: str) -> None:
    result, outcome = control([], cmd="DeviceConfig", inner=render_group("BasicParam", fields))
    assert result == "ERROR" and reason in outcome.note and not outcome.actions


def test_device_config_without_basic_param_is_an_error() -> None:
    inner = render_group("VideoParamAttribute", [("StreamNumber", "1")])
    result, outcome = control([], cmd="DeviceConfig", inner=inner)
    assert result == "ERROR" and "VideoParamAttribute is not supported" in outcome.note
