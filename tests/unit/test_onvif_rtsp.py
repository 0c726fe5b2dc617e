"""The RTSP of a camera's audio output (edge/onvif/rtsp.py, pure): requests, the camera's
responses and interleaved frames split anyhow across reads, and the track to send to in
the SDP of GStreamer's ONVIF server and one in a Hikvision camera's shape."""

from __future__ import annotations

import pytest

from edge.onvif.rtsp import BACKCHANNEL, MAX_BODY, Reader, Response, RtspError, \
    backchannel_track, interleaved, request, session_id

GSTREAMER = """v=0\r
o=- 5238781470870669789 1 IN IP4 127.0.0.1\r
s=Session streamed with GStreamer\r
t=0 0\r
a=control:*\r
m=audio 0 RTP/AVP 8\r
a=rtpmap:8 PCMA/8000\r
a=control:stream=0\r
a=recvonly\r
m=audio 0 RTP/AVP 0\r
a=rtpmap:0 PCMU/8000\r
a=control:stream=1\r
a=sendonly\r
"""
# in the shape of Hikvision's answers: video, its microphone, its loudspeaker; absolute controls
HIKVISION = """v=0\r
o=- 1109162014219182 0 IN IP4 0.0.0.0\r
s=HIK Media Server V4.21.005\r
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast\r
m=video 0 RTP/AVP 96\r
a=rtpmap:96 H264/90000\r
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast\r
a=recvonly\r
m=audio 0 RTP/AVP 97\r
a=rtpmap:97 MPEG4-GENERIC/16000/1\r
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=2?transportmode=unicast\r
a=recvonly\r
m=audio 0 RTP/AVP 8 0\r
a=rtpmap:8 PCMA/8000\r
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=4?transportmode=unicast\r
a=sendonly\r
"""


def test_requests_carry_the_backchannel_requirement() -> None:
    text = request("SETUP", "rtsp://cam/c/stream=1", 3, {"Session": "abc"}).decode()
    assert text.startswith("SETUP rtsp://cam/c/stream=1 RTSP/1.0\r\nCSeq: 3\r\n")
    assert f"Require: {BACKCHANNEL}\r\n" in text and text.endswith("Session: abc\r\n\r\n")
    with pytest.raises(RtspError):
        request("PLAY", "rtsp://cam/\r\nX: y", 1)


def test_the_track_to_send_to() -> None:
    track = backchannel_track(GSTREAMER, "rtsp://127.0.0.1:8554/c/")
    assert (track.control, track.payload_type, track.codec) == (
        "rtsp://127.0.0.1:8554/c/stream=1", 0, "pcmu")
    hik = backchannel_track(HIKVISION, "rtsp://192.168.1.64:554/Streaming/Channels/101/")
    assert hik.codec == "pcma" and hik.payload_type == 8
    assert hik.control.endswith("/trackID=4?transportmode=unicast")
    no_output = GSTREAMER.replace("a=sendonly", "a=recvonly")
    for sdp in (no_output, GSTREAMER.replace("PCMU/8000", "opus/48000").replace(
            "RTP/AVP 0", "RTP/AVP 111").replace("rtpmap:0", "rtpmap:111")):
        with pytest.raises(RtspError, match="no audio output"):
            backchannel_track(sdp, "rtsp://x/")
    with pytest.raises(RtspError, match="a=control"):
        backchannel_track(GSTREAMER.replace("a=control:stream=1\r\n", ""), "rtsp://x/")


def test_responses_and_frames_split_across_reads() -> None:
    body = GSTREAMER.encode()
    stream = (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Base: rtsp://x/c/\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
              + interleaved(1, b"\x81\xc8rtcp") + b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n"
              b'WWW-Authenticate: Digest realm="IP Camera", nonce="ab"\r\n\r\n')
    for step in (1, 7, len(stream)):
        reader, got = Reader(), []
        for i in range(0, len(stream), step):
            got += reader.feed(stream[i:i + step])
        first, frame, second = got
        assert isinstance(first, Response) and first.status == 200 and first.body == body
        assert first.header("Content-Base") == "rtsp://x/c/"
        assert frame == (1, b"\x81\xc8rtcp")
        assert isinstance(second, Response) and second.status == 401
        assert "nonce" in second.header("www-authenticate")


@pytest.mark.parametrize("bad", [
    b"HTTP/1.1 200 OK\r\n\r\n", b"RTSP/1.0 2OO OK\r\n\r\n", "RTSP/1.0 ２００ OK\r\n\r\n".encode(),
    b"RTSP/1.0 200 OK\r\nno colon\r\n\r\n", b"RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
    f"RTSP/1.0 200 OK\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(),
    b"RTSP/1.0 200 OK\r\n" + b"X: y\r\n" * 4000])
def test_what_is_not_a_usable_response_is_our_error(bad: bytes) -> None:
    with pytest.raises(RtspError):
        Reader().feed(bad)


def test_the_session_id() -> None:
    ok = Response(200, "OK", {"session": "1234ABCD;timeout=60"})
    assert session_id(ok) == "1234ABCD"
    for value in ("", ";timeout=60", "a b"):
        with pytest.raises(RtspError):
            session_id(Response(200, "OK", {"session": value}))
