"""The registration state machine driven by scripted time and scripted platform answers."""

import random
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge.gb28181.manscdp import parse_body
from edge.digest import digest_response, parse_challenge
from edge.gb28181.sip.message import SipRequest, SipResponse
from edge.gb28181.sip.registration import (
    FORBIDDEN_RETRY_S, REQUEST_TIMEOUT_S, ClockOffset, Ping, PublicAddressChanged, Registration,
    RegistrationChanged, Send, State, UpperPlatform, parse_sip_date,
)

CFG = UpperPlatform(
    server_id="34020000002000000001", domain="3402000000", host="10.9.9.9", port=5060,
    transport="TCP", local_id="34020000001180000001", local_host="127.0.0.1", local_port=5060,
    username="34020000001180000001", password="12345678",
)
WALL = 1_795_000_000.0


def answer(req: SipRequest, status: int, reason: str = "OK", *extra: tuple[str, str]) -> SipResponse:
    keep = tuple((k, v) for k, v in req.headers if k in ("Via", "From", "To", "Call-ID", "CSeq"))
    return SipResponse(status, reason, keep + extra)


def sends(effects: list) -> list[SipRequest]:
    return [e.message for e in effects if isinstance(e, Send)]


def registered(reg: Registration, now: float = 0.0) -> Registration:
    [req] = sends(reg.start(now))
    [req2] = sends(reg.handle(answer(req, 401, "Unauthorized", (
        "WWW-Authenticate", 'Digest realm="3402000000", nonce="n0", algorithm=MD5')), now, WALL))
    reg.handle(answer(req2, 200, "OK", ("Expires", "3600")), now, WALL)
    assert reg.state is State.REGISTERED
    return reg


def test_register_answers_the_challenge_in_the_same_dialog() -> None:
    reg = Registration(CFG, random.Random(1))
    [req] = sends(reg.start(0.0))
    assert req.method == "REGISTER" and req.uri == "sip:34020000002000000001@3402000000"
    assert req.header("Authorization") is None and req.header("Expires") == "3600"
    challenge = 'Digest realm="3402000000", nonce="abc", qop="auth"'
    [req2] = sends(reg.handle(answer(req, 401, "Unauthorized", ("WWW-Authenticate", challenge)),
                              0.1, WALL))
    assert req2.header("Call-ID") == req.header("Call-ID")
    assert req2.header("From") == req.header("From")
    assert req2.header("CSeq") == "2 REGISTER"
    auth = req2.header("Authorization")
    assert f'uri="{req.uri}"' in auth and "nc=00000001" in auth
    cnonce = auth.split('cnonce="')[1].split('"')[0]
    expected = digest_response(parse_challenge(challenge), CFG.username, CFG.password,
                               "REGISTER", req.uri, 1, cnonce)
    assert f'response="{expected}"' in auth
    date = datetime.fromtimestamp(WALL + 7.5, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    effects = reg.handle(answer(req2, 200, "OK", ("Expires", "1800"), ("Date", date)), 0.2, WALL)
    assert RegistrationChanged(True, "200 OK") in effects
    [offset] = [e for e in effects if isinstance(e, ClockOffset)]
    assert offset.offset_s == pytest.approx(7.5, abs=0.01)
    assert reg.next_deadline() == pytest.approx(60.2)  # first keepalive


def test_keepalive_every_interval_and_refresh_at_two_thirds() -> None:
    reg = registered(Registration(CFG, random.Random(2)))
    [ka] = sends(reg.tick(60.0))
    assert ka.method == "MESSAGE" and ka.header("Content-Type") == "Application/MANSCDP+xml"
    body = parse_body(ka.body)
    assert (body.root, body.cmd_type, body.sn, body.device_id) == ("Notify", "Keepalive", 1, CFG.local_id)
    assert reg.handle(answer(ka, 200), 60.1, WALL) == [] and reg.last_keepalive_ok == 60.1
    [ka2] = sends(reg.tick(120.0))
    assert parse_body(ka2.body).sn == 2 and ka2.header("Call-ID") != ka.header("Call-ID")
    refresh = [r for r in sends(reg.tick(2400.0)) if r.method == "REGISTER"]
    assert refresh and refresh[0].header("CSeq") == "3 REGISTER"
    assert reg.state is State.REGISTERED  # still registered while refreshing


def test_a_silent_platform_is_registered_again_within_one_keepalive_interval() -> None:
    """The first keepalive lost after all its retransmits refreshes the registration at
    once; that REGISTER unanswered too, the node is unregistered and starts afresh."""
    reg = registered(Registration(CFG, random.Random(3)))
    t, refresh, events = 0.0, [], []
    while not events and t < 400:
        t += 1.0
        effects = reg.tick(t)
        refresh += [r for r in sends(effects) if r.method == "REGISTER"]
        events = [e for e in effects if isinstance(e, RegistrationChanged)]
    first_refresh = refresh[0]
    assert first_refresh.header("Authorization") is not None or first_refresh.header(
        "Call-ID") == reg._call_id  # the same dialog: a refresh
    assert events == [RegistrationChanged(False, "REGISTER timed out")]
    # keepalive at 60, timed out at 92 (Timer F), the refresh timed out at 124
    assert 60 + 2 * REQUEST_TIMEOUT_S - 1 <= t <= 60 + 2 * REQUEST_TIMEOUT_S + 1
    again = []
    while not again and t < 500:
        t += 1.0
        again = [r for r in sends(reg.tick(t)) if r.method == "REGISTER"]
    assert again and again[0].header("Authorization") is None  # new dialog, new challenge
    assert again[0].header("Call-ID") != first_refresh.header("Call-ID")


def test_keepalive_misses_count_when_the_refresh_is_answered() -> None:
    """A platform that answers REGISTER but never a keepalive: after
    keepalive_timeout_count misses the node gives up the registration."""
    reg = registered(Registration(CFG, random.Random(3)))
    t, events = 0.0, []
    while not events and t < 400:
        t += 0.5
        effects = reg.tick(t)
        for req in sends(effects):
            if req.method == "REGISTER":
                reg.handle(answer(req, 200, "OK", ("Expires", "3600")), t, WALL)
        events = [e for e in effects if isinstance(e, RegistrationChanged)]
    assert events == [RegistrationChanged(False, "3 keepalives unanswered")]


def _seen_from(resp: SipResponse, public: str, port: int) -> SipResponse:
    """The answer as a platform behind our NAT writes it: our public address in Via."""
    headers = tuple((k, v.replace(";rport", f";rport={port};received={public}", 1)
                     if k == "Via" else v) for k, v in resp.headers)
    return SipResponse(resp.status, resp.reason, headers)


def test_a_new_public_address_in_via_refreshes_the_registration() -> None:
    """A carrier NAT rebinding: a keepalive's answer shows another rport than the
    REGISTER's did; the node registers again so the platform learns where we are."""
    reg = Registration(replace(CFG, transport="UDP"), random.Random(5))
    [req] = sends(reg.start(0.0))
    assert reg.public_host == ""  # not said yet
    [req2] = sends(reg.handle(_seen_from(answer(req, 401, "Unauthorized", (
        "WWW-Authenticate", 'Digest realm="3402000000", nonce="n0"')), "100.64.1.2", 40000),
        0.1, WALL))
    reg.handle(_seen_from(answer(req2, 200, "OK", ("Expires", "3600")), "100.64.1.2", 40000),
               0.2, WALL)
    assert reg.public_host == "100.64.1.2"  # a broadcast's UDP offer says it in o=/c=
    [ka] = sends(reg.tick(60.2))
    assert reg.handle(_seen_from(answer(ka, 200), "100.64.1.2", 40000), 60.3, WALL) == []
    [ka2] = sends(reg.tick(120.2))
    effects = reg.handle(_seen_from(answer(ka2, 200), "100.64.1.2", 51234), 120.3, WALL)
    assert PublicAddressChanged("100.64.1.2:40000", "100.64.1.2:51234") in effects
    [refresh] = sends(effects)
    assert refresh.method == "REGISTER" and refresh.header("Call-ID") == req.header("Call-ID")
    assert reg.state is State.REGISTERED  # a refresh, not a new registration


def test_nat_ping_only_when_nothing_else_went_out() -> None:
    reg = registered(Registration(replace(CFG, transport="UDP", nat_keepalive_s=25.0),
                                  random.Random(6)))
    assert reg.next_deadline() == pytest.approx(25.0)
    assert [e for e in reg.tick(25.0) if isinstance(e, Ping)] == [Ping(CFG.host, CFG.port)]
    assert not [e for e in reg.tick(49.0) if isinstance(e, Ping)]
    [ping] = [e for e in reg.tick(50.0) if isinstance(e, Ping)]
    assert ping.data == b"\r\n\r\n"
    [ka] = sends(reg.tick(60.0))  # the keepalive keeps the mapping too: next ping at 85
    reg.handle(answer(ka, 200), 60.1, WALL)
    assert not [e for e in reg.tick(84.0) if isinstance(e, Ping)]
    assert [e for e in reg.tick(85.0) if isinstance(e, Ping)]
    tcp = registered(Registration(replace(CFG, nat_keepalive_s=25.0), random.Random(6)))
    assert not [e for e in tcp.tick(30.0) if isinstance(e, Ping)]  # TCP has its own


@pytest.mark.parametrize("status", [404, 403])
def test_keepalive_404_or_403_re_registers_at_once(status: int) -> None:
    reg = registered(Registration(CFG, random.Random(4)))
    [ka] = sends(reg.tick(60.0))
    effects = reg.handle(answer(ka, status, "Not Found"), 60.1, WALL)
    assert RegistrationChanged(False, f"keepalive answered {status} Not Found") in effects
    [req] = sends(effects)
    assert req.method == "REGISTER" and reg.state is State.REGISTERING


def test_wrong_password_stops_hot_retries() -> None:
    reg = Registration(CFG, random.Random(5))
    [req] = sends(reg.start(0.0))
    [req2] = sends(reg.handle(answer(req, 401, "Unauthorized", (
        "WWW-Authenticate", 'Digest realm="d", nonce="n"')), 0.1, WALL))
    effects = reg.handle(answer(req2, 403, "Forbidden"), 0.2, WALL)
    assert reg.state is State.FORBIDDEN and "用户名或密码错误" in effects[0].reason
    assert sends(reg.tick(FORBIDDEN_RETRY_S - 1)) == []
    assert [r.method for r in sends(reg.tick(FORBIDDEN_RETRY_S + 1))] == ["REGISTER"]


def test_redirect_follows_contact_then_gives_up() -> None:
    reg = Registration(CFG, random.Random(6))
    [first] = [e for e in reg.start(0.0) if isinstance(e, Send)]
    assert (first.host, first.port) == ("10.9.9.9", 5060)
    moved = reg.handle(answer(first.message, 302, "Moved Temporarily",
                              ("Contact", "<sip:34020000002000000001@10.8.8.8:15060>")), 0.1, WALL)
    [again] = [e for e in moved if isinstance(e, Send)]
    assert (again.host, again.port) == ("10.8.8.8", 15060)
    for _ in range(3):
        out = reg.handle(answer(again.message, 302, "Moved", ("Contact", "<sip:x@10.7.7.7>")), 0.2, WALL)
        sent = [e for e in out if isinstance(e, Send)]
        if not sent:
            break
        again = sent[0]
    assert reg.state is State.UNREGISTERED and "302" in (reg.last_error or "")


def test_failures_back_off_with_jitter_up_to_a_minute() -> None:
    delays = []
    for seed in range(20):
        reg = Registration(CFG, random.Random(seed))
        [req] = sends(reg.start(0.0))
        reg.handle(answer(req, 503, "Service Unavailable"), 0.0, WALL)
        delays.append(reg.next_deadline())
    assert min(delays) >= 2.5 and max(delays) <= 5.0 and len(set(delays)) > 10


def test_unregister_on_stop_answers_a_challenge() -> None:
    reg = registered(Registration(CFG, random.Random(7)))
    [bye] = sends(reg.stop(10.0))
    assert bye.header("Expires") == "0"
    [bye2] = sends(reg.handle(answer(bye, 401, "Unauthorized", (
        "WWW-Authenticate", 'Digest realm="d", nonce="n2"')), 10.1, WALL))
    assert bye2.header("Expires") == "0" and bye2.header("Authorization")
    assert reg.handle(answer(bye2, 200), 10.2, WALL) == [RegistrationChanged(False, "unregistered")]
    assert reg.state is State.STOPPED and reg.next_deadline() == float("inf")


def test_udp_retransmits_until_answered() -> None:
    reg = Registration(replace(CFG, transport="UDP"), random.Random(8))
    [req] = sends(reg.start(0.0))
    times = []
    t = 0.0
    while t < 12:
        t = reg.next_deadline()
        if sends(reg.tick(t)):
            times.append(t)
    assert times[:5] == pytest.approx([0.5, 1.5, 3.5, 7.5, 11.5])
    reg.handle(answer(req, 200), t, WALL)
    assert reg.state is State.REGISTERED
    assert reg.next_deadline() == pytest.approx(t + 60)


@pytest.mark.parametrize("value, expected", [
    ("2026-11-22T12:00:00.000", "2026-11-22T04:00:00+00:00"),
    ("2026-11-22T12:00:00.5", "2026-11-22T04:00:00.500000+00:00"),
    ("2026-1-2T3:4:5", "2026-01-01T19:04:05+00:00"),
    ("Sun, 22 Nov 2026 04:00:00 GMT", "2026-11-22T04:00:00+00:00"),
])
def test_sip_date_forms(value: str, expected: str) -> None:
    assert parse_sip_date(value, "Asia/Shanghai") == datetime.fromisoformat(expected).timestamp()


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-40T99:00:00"])
def test_bad_sip_dates_are_ignored(value: str) -> None:
    assert parse_sip_date(value, "Asia/Shanghai") is None


def test_answers_go_out_one_after_another() -> None:
    reg = registered(Registration(CFG, random.Random(9)))
    bodies = [b"<Response>1</Response>", b"<Response>2</Response>", b"<Response>3</Response>"]
    [first] = sends(reg.send_messages(bodies[:2], 1.0))
    assert sends(reg.send_messages(bodies[2:], 1.0)) == []  # queued behind the first
    assert first.body == bodies[0] and first.method == "MESSAGE"
    [second] = sends(reg.handle(answer(first, 200), 1.1, WALL))
    assert second.body == bodies[1] and second.header("Call-ID") != first.header("Call-ID")
    # an unanswered packet does not stall the rest
    [third] = sends(reg.tick(1.1 + REQUEST_TIMEOUT_S))
    assert third.body == bodies[2]
    assert reg.state is State.REGISTERED and reg.handle(answer(third, 200), 40.0, WALL) == []
