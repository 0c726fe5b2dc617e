import pytest

from edge.gb28181.media.sdp import SdpError, answer, parse_offer

WVP_PLAY = """v=0\r
o=34020000002000000001 0 0 IN IP4 192.168.1.10\r
s=Play\r
c=IN IP4 192.168.1.10\r
t=0 0\r
m=video 30012 TCP/RTP/AVP 96 97 98 99\r
a=recvonly\r
a=rtpmap:96 PS/90000\r
a=rtpmap:98 H264/90000\r
a=rtpmap:97 MPEG4/90000\r
a=rtpmap:99 H265/90000\r
a=setup:passive\r
a=connection:new\r
a=stream:1\r
y=0200000001\r
f=\r
"""


def test_wvp_live_offer_over_tcp_where_the_platform_listens() -> None:
    offer = parse_offer(WVP_PLAY)
    assert (offer.kind, offer.address, offer.port, offer.transport) == (
        "Play", "192.168.1.10", 30012, "tcp-active")
    assert (offer.ssrc, offer.payload_type, offer.stream) == ("0200000001", 96, 1)
    body = answer(offer, "34020000001320000001", "10.0.0.5", 15060)
    assert "m=video 15060 TCP/RTP/AVP 96\r\n" in body and "a=setup:active\r\n" in body
    assert "y=0200000001\r\n" in body and "a=sendonly" in body and body.startswith("v=0\r\n")


def test_playback_and_download_times_speed_and_channel() -> None:
    text = ("v=0\ns=Download\nu=34020000001320000001:0\nc=IN IP4 10.1.1.1\n"
            "t=1795312800 1795316400\nm=video 30014 RTP/AVP 96\na=downloadspeed:4\n"
            "y=1200000003\n")
    offer = parse_offer(text)
    assert (offer.kind, offer.channel, offer.transport, offer.speed) == (
        "Download", "34020000001320000001", "udp", 4)
    assert (offer.start, offer.end) == (1795312800.0, 1795316400.0)
    ntp = parse_offer(text.replace("t=1795312800 1795316400",
                                   "t=4004301600 4004305200"))  # NTP epoch
    assert (ntp.start, ntp.end) == (1795312800.0, 1795316400.0)
    assert "t=1795312800 1795316400" in answer(offer, "x", "10.0.0.5", 15060)


@pytest.mark.parametrize("change, reason", [
    (("y=0200000001\r\n", ""), "no y= SSRC"),
    (("y=0200000001", "y=12ab"), "not a 10-digit SSRC"),
    (("m=video 30012", "m=video 99999"), "port 99999 is invalid"),
    (("m=video 30012", "m=video x"), "m= port 'x' is not a number"),
    (("m=video 30012", "m=video \u00b2"), "m= port .* is not a number"),  # superscript 2
    (("m=video 30012", "m=video \uff13\uff10\uff10\uff10"), "non-ASCII digits"),
    (("y=0200000001", "y=\u0660200000001"), "not a 10-digit SSRC"),  # Arabic-Indic 0
    (("TCP/RTP/AVP", "SCTP/RTP/AVP"), "is not RTP/AVP or TCP/RTP/AVP"),
    (("a=setup:passive", "a=setup:actpass"), "neither active nor passive"),
    (("s=Play", "s=Listen"), "is not Play, Playback, Download or Talk"),
    (("s=Play", "s=Talk"), "no m=audio line"),  # a Talk offer with video only
    (("m=video", "m=audio"), "no m=video line"),
    (("c=IN IP4 192.168.1.10", "c=IN"), "is not an IN IP4 address"),
])
def test_hostile_offers_are_refused_with_the_reason(change: tuple[str, str], reason: str) -> None:
    with pytest.raises(SdpError, match=reason):
        parse_offer(WVP_PLAY.replace(*change))


def test_history_needs_a_time_range() -> None:
    with pytest.raises(SdpError, match="needs a start before its end"):
        parse_offer(WVP_PLAY.replace("s=Play", "s=Playback"))
