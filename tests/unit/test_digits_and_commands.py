"""ASCII-only numbers and the MQTT command payload parser."""

import pytest

from edge.digits import is_digits, parse_decimal, parse_uint
from edge.errors import ProtocolError
from edge.mqtt.commands import CommandError, parse_args, reply_topic


@pytest.mark.parametrize("text", ["\u00b2", "\uff13", "\u0661", "1\u00b2", "", " ", "-1", "1e3"])
def test_digits_that_only_look_like_numbers_are_not(text: str) -> None:
    assert not is_digits(text)
    with pytest.raises(ProtocolError, match="is not a number"):
        parse_uint(text, "Content-Length")


def test_uint_bounds_and_hints() -> None:
    assert parse_uint(" 42 ", "x") == 42
    with pytest.raises(ProtocolError, match="is not a number"):
        parse_uint("9" * 19, "x")  # beyond 2**63: no peer means it
    with pytest.raises(ProtocolError, match="non-ASCII digits '３'"):
        parse_uint("３4", "node.id")


@pytest.mark.parametrize("text, value", [("2", 2.0), ("2.000000", 2.0), ("-0.5", -0.5)])
def test_decimals(text: str, value: float) -> None:
    assert parse_decimal(text, "Scale") == value


@pytest.mark.parametrize("text", ["nan", "inf", "1_0", "1e3", "\uff12", "", "0x10", "1."])
def test_decimals_refuse_what_float_would_take(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_decimal(text, "Scale")


def test_command_payloads() -> None:
    assert parse_args(b"") == {} and parse_args(b'{"channel": "1"}') == {"channel": "1"}
    for payload, reason in [(b"[" * 200_000, "exceeds"), (b"[" * 100, "nested deeper"),
                            (b'{"a": "[[[[[[[[[[[["}', None), (b"\xff", "not UTF-8"),
                            (b"[]", "JSON object"), (b"{", "not JSON")]:
        if reason is None:
            assert parse_args(payload) == {"a": "[[[[[[[[[[[["}  # brackets in a string
            continue
        with pytest.raises(CommandError, match=reason):
            parse_args(payload)


@pytest.mark.parametrize("requested, expected", [
    ("d/7", "d/7"), ("d", "d"), ("a/#", "d"), ("a/+/b", "d"), ("", "d"), (None, "d"),
    ("d/a\0b", "d"), ("d/" + "x" * 2000, "d"),
    # only under the command's own reply topic: never another command, here or elsewhere
    ("ops/replies/7", "d"), ("dd", "d"), ("edge/n1/cmd/reload-config", "d")])
def test_reply_topics_paho_would_refuse_fall_back(requested: str | None, expected: str) -> None:
    assert reply_topic(requested, "d") == expected
