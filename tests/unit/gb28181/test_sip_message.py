import pytest
from hypothesis import given, strategies as st

from edge.gb28181.sip.framing import MAX_HEADER_BYTES, SipStreamBuffer
from edge.gb28181.sip.message import (
    SipParseError, SipRequest, SipResponse, find_headers, parse, with_header,
)


def lf2crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


REGISTER = lf2crlf("""REGISTER sip:34020000002000000001@3402000000 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK1234
From: <sip:34020000001180000001@3402000000>;tag=ab12
To: <sip:34020000001180000001@3402000000>
Call-ID: 8f0c@10.0.0.5
CSeq: 1 REGISTER
Contact: <sip:34020000001180000001@10.0.0.5:5060>
Max-Forwards: 70
Expires: 3600
Content-Length: 0

""")

KEEPALIVE_BODY = ('<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>Keepalive'
                  '</CmdType>\r\n<SN>43</SN>\r\n<DeviceID>34020000001180000001</DeviceID>\r\n'
                  '<Status>OK</Status>\r\n</Notify>\r\n').encode("gb2312")
MESSAGE = lf2crlf("""MESSAGE sip:34020000002000000001@3402000000 SIP/2.0
v: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bK99
f: <sip:34020000001180000001@3402000000>;tag=x1
t: <sip:34020000002000000001@3402000000>
i: ka-1
CSeq: 20 MESSAGE
c: Application/MANSCDP+xml
l: %d

""" % len(KEEPALIVE_BODY)) + KEEPALIVE_BODY


def test_parse_register_and_round_trip() -> None:
    msg = parse(REGISTER)
    assert isinstance(msg, SipRequest)
    assert (msg.method, msg.uri) == ("REGISTER", "sip:34020000002000000001@3402000000")
    assert msg.header("call-id") == "8f0c@10.0.0.5" and msg.header("EXPIRES") == "3600"
    assert bytes(msg) == REGISTER


def test_compact_headers_and_body() -> None:
    msg = parse(MESSAGE)
    assert msg.header("Call-ID") == "ka-1" and msg.header("Content-Type") == "Application/MANSCDP+xml"
    assert msg.body == KEEPALIVE_BODY
    assert find_headers(msg.headers, "via") == ["SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bK99"]


def test_response_and_header_replacement() -> None:
    ok = SipResponse(200, "OK", (("Call-ID", "a"), ("Content-Length", "99")))
    assert bytes(ok) == b"SIP/2.0 200 OK\r\nCall-ID: a\r\nContent-Length: 0\r\n\r\n"
    assert with_header(ok, "call-id", "b").header("Call-ID") == "b"


@pytest.mark.parametrize("data, message", [
    (b"REGISTER sip:x SIP/2.0\r\nVia: a\r\n", "no blank line after the headers"),
    (b"HELLO\r\n\r\n", "not a SIP start line"),
    (b"SIP/2.0 2000 OK\r\n\r\n", "is not a 3-digit code"),
    (b"MESSAGE sip:x SIP/2.0\r\nBad header\r\n\r\n", "malformed SIP header line"),
    (b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 10\r\n\r\nabc", "Content-Length 10 exceeds body of 3 bytes"),
    (b"MESSAGE sip:x SIP/2.0\r\nContent-Length: x\r\n\r\n", "is not a number"),
    # isdigit() is true for these; int() refuses the first and no peer means the others
    ("MESSAGE sip:x SIP/2.0\r\nContent-Length: \u00b2\r\n\r\n".encode(), "is not a number"),
    ("MESSAGE sip:x SIP/2.0\r\nContent-Length: \uff10\r\n\r\n".encode(), "non-ASCII"),
    ("SIP/2.0 \u0662\u0660\u0660 OK\r\n\r\n".encode(), "is not a 3-digit code"),
    (b"MESSAGE sip:x SIP/2.0\r\n\r\n" + b"a" * 70_000, "exceeds 65536"),
])
def test_malformed_messages_name_the_fault(data: bytes, message: str) -> None:
    with pytest.raises(SipParseError, match=message):
        parse(data)


@given(st.binary(max_size=300))
def test_garbage_parses_or_raises_sip_parse_error(data: bytes) -> None:
    try:
        parse(data)
    except SipParseError:
        pass


_token = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


@given(st.sampled_from(["REGISTER", "MESSAGE", "INVITE", "BYE", "ACK"]), _token,
       st.lists(st.tuples(_token.map(str.title), st.text("abc;=@:. 0123", max_size=20).map(str.strip)),
                max_size=8),
       st.binary(max_size=200))
def test_request_round_trip(method: str, user: str, headers: list[tuple[str, str]], body: bytes) -> None:
    headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "l")]
    msg = SipRequest(method, f"sip:{user}@3402000000", tuple(headers), body)
    again = parse(bytes(msg))
    assert isinstance(again, SipRequest)
    assert (again.method, again.uri, again.body) == (method, msg.uri, body)
    assert again.headers[:-1] == msg.headers  # plus the Content-Length we always write


def _feed_all(chunks: list[bytes]) -> list[bytes]:
    buf, out = SipStreamBuffer(), []
    for chunk in chunks:
        buf.feed(chunk)
        while (msg := buf.next_message()) is not None:
            out.append(bytes(msg))
    return out


def test_stream_framing_whole_byte_at_a_time_and_with_keepalives() -> None:
    stream = REGISTER + MESSAGE + b"\r\n\r\n" + REGISTER
    expected = [bytes(parse(REGISTER)), bytes(parse(MESSAGE)), bytes(parse(REGISTER))]
    assert _feed_all([stream]) == expected
    assert _feed_all([stream[i:i + 1] for i in range(len(stream))]) == expected
    partial = SipStreamBuffer()
    partial.feed(MESSAGE[:-5])
    assert partial.next_message() is None


def test_stream_refuses_a_content_length_that_only_looks_like_a_number() -> None:
    buf = SipStreamBuffer()
    buf.feed("MESSAGE sip:x SIP/2.0\r\nContent-Length: \u00b2\r\n\r\nab".encode())
    with pytest.raises(SipParseError, match="is not a number"):
        buf.next_message()


def test_stream_rejects_endless_headers() -> None:
    buf = SipStreamBuffer()
    buf.feed(b"MESSAGE sip:x SIP/2.0\r\n" + b"X: y\r\n" * (MAX_HEADER_BYTES // 6 + 1))
    with pytest.raises(SipParseError, match="headers longer than") as err:
        buf.next_message()
    assert err.value.status_hint == 431
