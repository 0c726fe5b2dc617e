"""INVITE dialogs: what is answered and which media commands go to the recorder."""

import random

from edge.gb28181.media.sessions import ACK_TIMEOUT_S, MediaSessions
from edge.gb28181.model import Channel
from edge.gb28181.sip.message import SipRequest

CAM = Channel("34020000001320000001", "村口", True, True)
DARK = Channel("34020000001320000002", "村委会", False, False)
SDP = ("v=0\r\ns=Play\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=video 30000 RTP/AVP 96\r\n"
       "a=rtpmap:96 PS/90000\r\ny=0200000001\r\n").encode()


def invite(call_id: str, channel: str = CAM.id, body: bytes = SDP) -> SipRequest:
    return SipRequest("INVITE", f"sip:{channel}@3402000000", (
        ("Via", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1"),
        ("From", "<sip:34020000002000000001@3402000000>;tag=up"),
        ("To", f"<sip:{channel}@3402000000>"), ("Call-ID", call_id), ("CSeq", "1 INVITE")), body)


def in_dialog(method: str, call_id: str) -> SipRequest:
    req = invite(call_id)
    return SipRequest(method, req.uri, tuple((k, v if k != "CSeq" else f"2 {method}")
                                             for k, v in req.headers))


def table(max_sessions: int = 2) -> MediaSessions:
    return MediaSessions("34020000001180000001", (30000, 30009), max_sessions, random.Random(1))


def test_invite_ack_bye() -> None:
    t = table()
    result = t.invite(invite("c1"), "P", [CAM], "10.0.0.5", 0.0)
    assert [r.status for r in result.responses] == [100, 200]
    ok = result.responses[1]
    assert ok.header("To").endswith(f"tag={t.dialogs['c1'].local_tag}")
    assert b"m=video 30000 RTP/AVP 96" in ok.body and b"c=IN IP4 10.0.0.5" in ok.body
    [opened] = result.commands
    assert (opened["op"], opened["ssrc"], opened["address"], opened["port"]) == (
        "open", 200000001, "10.0.0.9", 30000)
    assert t.ack(in_dialog("ACK", "c1")).commands == [{"op": "play", "id": opened["id"]}]
    assert t.ack(in_dialog("ACK", "c1")).commands == []  # a retransmitted ACK
    assert t.status("P") == {"live_sessions": 1, "playback_sessions": 0}
    bye = t.bye(in_dialog("BYE", "c1"))
    assert bye.responses[0].status == 200 and bye.commands == [{"op": "close", "id": opened["id"]}]
    assert t.bye(in_dialog("BYE", "c1")).responses[0].status == 481


def test_refusals() -> None:
    t = table(max_sessions=1)
    assert t.invite(invite("x", DARK.id), "P", [CAM, DARK], "a", 0).responses[-1].status == 480
    assert t.invite(invite("y", "3402"), "P", [CAM], "a", 0).responses[-1].status == 404
    bad = t.invite(invite("z", body=SDP.replace(b"y=0200000001\r\n", b"")), "P", [CAM], "a", 0)
    assert bad.responses[-1].status == 488 and "no y=" in bad.responses[-1].header("Warning")
    assert t.invite(invite("a"), "P", [CAM], "a", 0).responses[-1].status == 200
    assert t.invite(invite("b"), "P", [CAM], "a", 0).responses[-1].status == 486


def test_cancel_before_ack_and_ack_timeout() -> None:
    t = table()
    sid = t.invite(invite("c1"), "P", [CAM], "a", 0.0).commands[0]["id"]
    cancel = t.cancel(in_dialog("CANCEL", "c1"))
    assert [r.status for r in cancel.responses] == [200, 487]
    assert cancel.commands == [{"op": "close", "id": sid}]
    late = t.invite(invite("c2"), "P", [CAM], "a", 0.0).commands[0]
    assert late["local_port"] == 30001  # ports are not reused at once
    assert t.tick(ACK_TIMEOUT_S - 1) == []
    assert t.tick(ACK_TIMEOUT_S + 1) == [{"op": "close", "id": late["id"]}]
    assert not t.dialogs


def test_recorder_events_end_sessions() -> None:
    t = table()
    sid = t.invite(invite("c1"), "P", [CAM], "a", 0.0).commands[0]["id"]
    t.ack(in_dialog("ACK", "c1"))
    assert t.event({"id": sid, "event": "playing", "first_packet_ms": 4}) is None
    assert t.dialogs["c1"].first_packet_ms == 4
    ended = t.event({"id": sid, "event": "ended", "reason": "tcp peer gone"})
    assert ended is not None and ended.channel == CAM.id and not t.dialogs
    t.invite(invite("c2"), "P", [CAM], "a", 0.0)
    t.event({"event": "recorder_gone"})
    assert not t.dialogs


def test_playback_of_a_dark_camera_info_controls_and_the_end() -> None:
    t = table()
    history = SDP.replace(b"s=Play", b"s=Playback").replace(b"t=0 0", b"t=1795312800 1795316400")
    result = t.invite(invite("h", DARK.id, history), "P", [CAM, DARK], "a", 0.0)
    assert result.responses[-1].status == 200  # footage of a camera that is down now
    opened = result.commands[0]
    assert (opened["kind"], opened["start"], opened["end"]) == ("Playback", 1795312800.0,
                                                                1795316400.0)
    info = in_dialog("INFO", "h")
    scale = t.info(type(info)(info.method, info.uri, info.headers,
                              b"PLAY RTSP/1.0\r\nCSeq: 3\r\nScale: 4.0\r\n"))
    assert scale.responses[0].status == 200
    assert scale.commands == [{"op": "control", "id": opened["id"], "action": "play",
                               "scale": 4.0, "seek_s": None}]
    bad = t.info(type(info)(info.method, info.uri, info.headers, b"JUMP RTSP/1.0\r\n"))
    assert bad.responses[0].status == 400 and not bad.commands
    assert t.status("P") == {"live_sessions": 0, "playback_sessions": 1}
    finished = t.event({"id": opened["id"], "event": "finished"})
    assert finished is not None and finished.state == "finished" and "h" in t.dialogs
