"""Voice broadcast (gb28181.md 3.11): the Notify's answer, our INVITE and its dialog, the
audio out of RTP (raw G.711 or PS) — all pure."""

from __future__ import annotations

import dataclasses
import struct

import av
import numpy as np
import pytest

from edge.config import SpeakerConfig
from edge.gb28181.answers import catalog, handle
from edge.gb28181.broadcast import INVITE_TIMEOUT_S, Answered, Broadcasts, Caller, Refused
from edge.gb28181.manscdp import parse_body, render
from edge.gb28181.media.audio import AudioDepacketizer, AudioError
from edge.gb28181.media.ps import Streams, audio_frame, psm
from edge.gb28181.media.rtp import Packetizer
from edge.gb28181.media.sdp import SdpError, parse_audio_answer
from edge.gb28181.model import Broadcast, Channel, Node
from edge.gb28181.place import speaker
from edge.gb28181.sip.message import SipResponse, parse, response_to, with_header
from edge.voice import g711
from edge.voice.speaker import Speakers

NODE = Node("34020000001180000001", "某村监控室", "Asia/Shanghai")
SPEAKER = "34020000001370000001"
CAMERA = "34020000001320000001"
SOURCE = "34020000002000000001"
CHANNELS = [Channel(CAMERA, "村口", True, True), Channel(SPEAKER, "村委会大喇叭", True, False)]
CALLER = Caller(NODE.id, "3402000000", "10.0.0.5", 5060, "UDP", "10.0.0.5")


def _notify(target: str, source: str = SOURCE) -> bytes:
    return render("Notify", "Broadcast", 7, "", [("SourceID", source), ("TargetID", target)])


def test_a_broadcast_to_a_speaker_goes_to_the_runner_anything_else_is_error() -> None:
    out = handle(parse_body(_notify(SPEAKER)), NODE, CHANNELS, lambda *_: [], 0)
    assert out.bodies == [] and out.actions == [Broadcast(SOURCE, SPEAKER, 7)]
    for target in (CAMERA, "34020000001370000099", "ab"):  # no speaker beside this camera
        out = handle(parse_body(_notify(target)), NODE, CHANNELS, lambda *_: [], 0)
        answer = parse_body(out.bodies[0])
        assert (answer.root, answer.cmd_type, answer.sn, answer.fields["Result"]) == \
            ("Response", "Broadcast", 7, "ERROR") and not out.actions
        assert "not one of our speakers" in out.note
    out = handle(parse_body(_notify(SPEAKER, source="")), NODE, CHANNELS, lambda *_: [], 0)
    assert parse_body(out.bodies[0]).fields["Result"] == "ERROR" and "SourceID" in out.note


def test_a_broadcast_to_a_camera_with_a_speaker_beside_it_goes_to_the_runner() -> None:
    """WVP's broadcast button on a camera's channel: TargetID is the camera."""
    channels = [dataclasses.replace(CHANNELS[0], speaks=True), CHANNELS[1]]
    out = handle(parse_body(_notify(CAMERA)), NODE, channels, lambda *_: [], 0)
    assert out.bodies == [] and out.actions == [Broadcast(SOURCE, CAMERA, 7)]


def _ok(invite, body: str, status: int = 200) -> SipResponse:
    ok = response_to(invite, status, "OK" if status == 200 else "Busy Here", "wvp-tag")
    ok = with_header(ok, "Contact", f"<sip:{SOURCE}@10.0.0.9:5060>")
    return SipResponse(ok.status, ok.reason, ok.headers, body.encode())


ANSWER_UDP = ("v=0\r\no=34020000002000000001 0 0 IN IP4 10.0.0.9\r\ns=Play\r\n"
              "c=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 30010 RTP/AVP 8\r\n"
              "a=rtpmap:8 PCMA/8000/1\r\na=sendonly\r\ny=0100000001\r\nf=v/////a/1/8/1\r\n")


def test_our_invite_is_what_wvp_looks_up() -> None:
    calls = Broadcasts()
    call = calls.start(CALLER, "wvp", SOURCE, SPEAKER, 30002, 0.0)
    invite = parse(bytes(call.invite))  # and it survives our own parser
    assert invite.method == "INVITE" and invite.uri == f"sip:{SOURCE}@3402000000"
    assert invite.header("Subject") == f"{SOURCE}:0,{SPEAKER}:0"
    assert f"sip:{NODE.id}@" in invite.header("From") and "tag=" in invite.header("From")
    sdp = invite.body.decode()
    assert "o=34020000001180000001 0 0 IN IP4 10.0.0.5" in sdp  # WVP sends to o=
    assert "m=audio 30002 RTP/AVP 8 0 96" in sdp and "a=recvonly" in sdp
    y = next(line[2:] for line in sdp.split("\r\n") if line.startswith("y="))
    assert len(y) == 10 and y.isascii() and y.isdigit() and y[0] == "0"
    over_tcp = dataclasses.replace(CALLER, transport="TCP")
    tcp = calls.start(over_tcp, "wvp", SOURCE, SPEAKER, 0, 0.0)
    assert "TCP/RTP/AVP" in tcp.invite.body.decode() and "a=setup:active" in \
        tcp.invite.body.decode()


def test_answered_acked_in_dialog_and_ended_by_either_side() -> None:
    calls = Broadcasts()
    call = calls.start(CALLER, "wvp", SOURCE, SPEAKER, 30002, 0.0)
    assert calls.response(response_to(call.invite, 100, "Trying")) is None
    ok = _ok(call.invite, ANSWER_UDP)
    answered = calls.response(ok)
    assert isinstance(answered, Answered)
    assert (answered.audio.address, answered.audio.port, answered.audio.tcp) == \
        ("10.0.0.9", 30010, False)
    ack = answered.ack
    assert ack.method == "ACK" and ack.uri == f"sip:{SOURCE}@10.0.0.9:5060"
    assert "tag=wvp-tag" in ack.header("To") and ack.header("CSeq") == "1 ACK"
    again = calls.response(ok)  # the 200 OK retransmitted: our ACK was lost
    assert again is not None and again.method == "ACK"
    ended, bye = calls.hang_up(call.call_id)
    assert ended is call and bye.method == "BYE" and bye.header("CSeq") == "2 BYE"
    assert "tag=wvp-tag" in bye.header("To") and bye.header("Call-ID") == call.call_id
    # the platform's BYE for a second call
    second = calls.start(CALLER, "wvp", SOURCE, SPEAKER, 30004, 0.0)
    calls.response(_ok(second.invite, ANSWER_UDP))
    platform_bye = second.invite.__class__("BYE", "sip:x@y", second.invite.headers)
    answer, gone = calls.bye(platform_bye)
    assert answer.status == 200 and gone is second and not calls.calls
    assert calls.bye(platform_bye)[0].status == 481


def test_refused_or_unanswered_invites_end_the_call() -> None:
    calls = Broadcasts()
    call = calls.start(CALLER, "wvp", SOURCE, SPEAKER, 30002, 0.0)
    busy = calls.response(_ok(call.invite, "", status=486))
    assert isinstance(busy, Refused) and busy.reason.startswith("486")
    assert busy.ack.header("Via") == call.invite.header("Via")  # the INVITE's transaction
    assert not calls.calls
    # 200 OK without audio: ACK, then BYE
    call = calls.start(CALLER, "wvp", SOURCE, SPEAKER, 30002, 0.0)
    no_audio = calls.response(_ok(call.invite, ANSWER_UDP.replace("m=audio", "m=video")))
    assert isinstance(no_audio, Refused) and "m=audio" in no_audio.reason
    assert calls.hang_up(call.call_id)[1].method == "BYE"
    call = calls.start(CALLER, "wvp", SOURCE, SPEAKER, 30002, 0.0)
    other_codec = calls.response(_ok(call.invite, ANSWER_UDP.replace("RTP/AVP 8", "RTP/AVP 97")))
    assert isinstance(other_codec, Refused) and "not G.711" in other_codec.reason
    calls = Broadcasts()
    call = calls.start(CALLER, "wvp", SOURCE, SPEAKER, 30002, 100.0)
    assert calls.expire(100.0 + INVITE_TIMEOUT_S - 1) == []
    assert calls.expire(100.0 + INVITE_TIMEOUT_S) == [call] and not calls.calls


@pytest.mark.parametrize("sdp, problem", [
    ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 8\r\n", "port"),
    ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 8\r\n", "invalid"),
    ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 SRTP/AVP 8\r\n", "transport"),
    ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP PCMA\r\n", "payload"),
    ("v=0\r\nm=audio 5000 RTP/AVP 8\r\n", "c="),
    ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP ²\r\n", "payload"),
])
def test_bad_answers_are_sdp_errors(sdp: str, problem: str) -> None:
    with pytest.raises(SdpError, match=problem):
        parse_audio_answer(sdp)


def _tone(seconds: float = 0.5, hz: float = 1000.0) -> bytes:
    """A real A-law encoded tone (FFmpeg's encoder)."""
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (np.sin(2 * np.pi * hz * t) * 12000).astype(np.int16)
    ctx = av.CodecContext.create("pcm_alaw", "w")
    ctx.sample_rate, ctx.format, ctx.layout = 8000, "s16", "mono"
    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
    frame.rate = 8000
    return b"".join(bytes(p) for p in ctx.encode(frame))


def test_g711_tables_match_ffmpeg() -> None:
    for codec, name in (("pcma", "pcm_alaw"), ("pcmu", "pcm_mulaw")):
        ctx = av.CodecContext.create(name, "r")
        ctx.sample_rate, ctx.layout = 8000, "mono"
        everything = bytes(range(256))
        ref = np.concatenate([f.to_ndarray().ravel() for f in ctx.decode(av.Packet(everything))])
        assert np.array_equal(g711.decode(codec, everything), ref)


def test_raw_g711_rtp_in_order_one_source() -> None:
    tone = _tone()
    rtp = Packetizer(ssrc=1234, payload_type=8)
    packets = [rtp.packets(tone[i:i + 160], i)[0] for i in range(0, len(tone), 160)]
    depack = AudioDepacketizer()
    got = b"".join(c.payload for p in packets for c in depack.feed(p))
    assert got == tone and depack.packets == len(packets)
    assert depack.feed(packets[3]) == []  # a duplicate (late) packet
    stranger = Packetizer(ssrc=99, payload_type=8, seq=rtp.seq)
    assert depack.feed(stranger.packets(tone[:160], 0)[0]) == []
    assert depack.dropped == 2
    assert [c.codec for c in depack.feed(Packetizer(1234, 0, rtp.seq).packets(b"\xff", 9)[0])] \
        == ["pcmu"]


def test_ps_wrapped_audio_and_what_is_not_playable() -> None:
    tone = _tone(0.2)
    head = psm(Streams("h264", "pcm_alaw"))
    rtp = Packetizer(ssrc=5, payload_type=96)
    depack = AudioDepacketizer()
    got = []
    for n, i in enumerate(range(0, len(tone), 320)):
        frame = audio_frame(tone[i:i + 320], i * 90 // 8)
        if n == 0:
            frame = frame[:14] + head + frame[14:]  # the PSM after the first pack header
        for packet in rtp.packets(frame, i):
            got += depack.feed(packet)
    assert b"".join(c.payload for c in got) == tone and {c.codec for c in got} == {"pcma"}
    aac = AudioDepacketizer()
    frame = audio_frame(b"\x21" * 50, 0)
    frame = frame[:14] + psm(Streams("h264", "aac")) + frame[14:]
    with pytest.raises(AudioError, match="not G.711"):
        aac.feed(Packetizer(6, 96).packets(frame, 0)[0])
    with pytest.raises(AudioError, match="neither G.711"):
        AudioDepacketizer().feed(Packetizer(7, 97).packets(b"not a PS frame", 0)[0])
    with pytest.raises(AudioError, match="RTP"):
        AudioDepacketizer().feed(b"\x00" * 8)
    big = AudioDepacketizer()
    packet = struct.pack(">BBHII", 0x80, 96, 1, 0, 1) + b"\x00" * 1400
    with pytest.raises(AudioError, match="exceeds"):
        for seq in range(60):
            big.feed(packet[:2] + struct.pack(">H", seq) + packet[4:])


def test_the_speaker_is_in_the_catalog() -> None:
    channel = speaker(SpeakerConfig(SPEAKER, "村委会大喇叭", "plughw:1,0"))
    packets = catalog(NODE, 3, [CHANNELS[0], channel])
    items = [item for p in packets for item in parse_body(p).element.find("DeviceList")]
    found = [i for i in items if i.findtext("DeviceID") == SPEAKER]
    assert len(found) == 1 and found[0].findtext("Name") == "村委会大喇叭"
    assert found[0].findtext("Status") == "ON" and found[0].findtext("Parental") == "0"


TALK_OFFER = ("v=0\r\no=34020000002000000001 0 0 IN IP4 10.0.0.9\r\ns=Talk\r\n"
              "c=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 30010 TCP/RTP/AVP 8\r\na=setup:passive\r\n"
              "a=connection:new\r\na=sendrecv\r\na=rtpmap:8 PCMA/8000\r\ny=0100000001\r\n"
              "f=v/////a/1/8/1\r\n")


def test_a_talk_offer_as_wvp_sends_it_and_our_answer() -> None:
    from edge.gb28181.media.sdp import answer, parse_offer

    offer = parse_offer(TALK_OFFER)
    assert (offer.kind, offer.transport, offer.payload_type, offer.port) == \
        ("Talk", "tcp-active", 8, 30010)
    ours = answer(offer, CAMERA, "10.0.0.5", 30002)
    assert "m=audio 30002 TCP/RTP/AVP 8" in ours and "a=sendrecv" in ours
    assert "a=setup:active" in ours and "a=rtpmap:8 PCMA/8000" in ours
    assert "y=0100000001" in ours and "PS/90000" not in ours
    assert parse_offer(TALK_OFFER.replace("TCP/RTP/AVP 8", "TCP/RTP/AVP 0")).payload_type == 0
    with pytest.raises(SdpError, match="not G.711"):
        parse_offer(TALK_OFFER.replace("TCP/RTP/AVP 8", "TCP/RTP/AVP 97"))


def test_g711_encoding_picks_the_nearest_code() -> None:
    for codec in ("pcma", "pcmu"):
        values = np.sort(g711.TABLES[codec].astype(np.int32))  # beyond them: clipped
        x = np.arange(values[0], values[-1] + 1, 7)
        back = g711.decode(codec, g711.encode(codec, x.astype(np.int16))).astype(np.int32)
        assert np.abs(back - x).max() <= np.diff(values).max() // 2 + 1
    codes = bytes(range(256))
    assert g711.encode("pcma", g711.decode("pcma", codes)) == codes


def test_a_cameras_own_audio_output_is_the_speaker_beside_it() -> None:
    horn = SpeakerConfig("34020000001370000001", "村口喇叭", "plughw:1,0", camera=CAMERA)
    own = SpeakerConfig("34020000001370000002", "摄像机喇叭", camera=CAMERA, backchannel=True)
    roof = SpeakerConfig("34020000001370000003", "村委会大喇叭", "plughw:2,0")
    assert Speakers((horn, own, roof)).beside(CAMERA).cfg is own
    assert Speakers((horn, roof)).beside(CAMERA).cfg is horn
    assert Speakers((roof,)).beside(CAMERA) is None
    assert Speakers((dataclasses.replace(horn, enabled=False),)).beside(CAMERA) is None
