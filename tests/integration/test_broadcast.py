"""GB/T 28181 voice broadcast end to end: a scripted platform does WVP's flow over UDP and
TCP against the SIP runner on real sockets; the audio (a real A-law encoded tone) comes
out of a real ALSA PCM — alsa-lib's ``file`` plugin writing what it plays to a file, the
same library path as a USB sound card — and is compared with what was sent."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from edge.config import parse as parse_config
from edge.gb28181.manscdp import parse_body, render
from edge.gb28181.media.rtp import Packetizer, frame_tcp
from edge.gb28181.place import channel as camera_channel, speaker as speaker_channel
from edge.gb28181.runner import SipRunner
from edge.gb28181.sip.message import SipRequest, SipResponse, response_to, with_header
from edge.record.index import Index
from edge.sim.server import free_port
from edge.voice.speaker import PRIORITY_ROOM, Speakers
from tests.integration.conftest import peak_hz, played
from tests.integration.scripted_platform import (
    NODE, PASSWORD, SERVER, ScriptedPlatform, register,
)
from tests.unit.gb28181.test_broadcast import _tone

SPEAKER = "34020000001370000001"
DEAD = "34020000001370000002"  # its sound card is not there; beside the camera
CAM = "34020000001320000001"
TONE_HZ = 1000.0


class Node:
    def __init__(self, data_dir: Path, transport: str, seen_as: str = "",
                 ports: tuple[int, int] = (30000, 30499)) -> None:
        self.platform = ScriptedPlatform(transport)
        self.cfg = parse_config({
            "node": {"id": NODE, "data_dir": str(data_dir), "sip_port": free_port()},
            "media": {"rtp_port_range": list(ports)},
            "platforms": [{"id": SERVER, "host": "127.0.0.1", "port": self.platform.port,
                           "transport": transport, "password": PASSWORD,
                           "keepalive_interval": 30}],
            "cameras": [{"id": CAM, "name": "村口", "url": "rtsp://127.0.0.1:9/entrance"}],
            "speakers": [{"id": SPEAKER, "name": "村委会大喇叭", "device": "edgetest"},
                         {"id": DEAD, "name": "村口喇叭", "device": "nosuchcard",
                          "camera": CAM}],
        })
        Index(data_dir).close()
        self.speakers = Speakers(self.cfg.speakers)
        self.stop_event = threading.Event()
        self.runner = SipRunner(self.cfg, self.stop_event,
                                lambda: [camera_channel(c, True, True, None, speaks=True)
                                         for c in self.cfg.cameras]
                                + [speaker_channel(s) for s in self.cfg.speakers],
                                speakers=self.speakers)
        self.runner.start()
        register(self.platform, username=NODE, seen_as=seen_as)

    def notify(self, target: str, sn: int) -> tuple[str, SipRequest | None]:
        """Send Notify Broadcast; the Response's Result and, when OK, the node's INVITE."""
        request = SipRequest("MESSAGE", f"sip:{NODE}@3402000000", (
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.platform.port};branch=z9hG4bKb{sn}"),
            ("From", f"<sip:{SERVER}@3402000000>;tag=b{sn}"), ("To", f"<sip:{NODE}@3402000000>"),
            ("Call-ID", f"broadcast-{sn}"), ("CSeq", f"{sn} MESSAGE"),
            ("Content-Type", "Application/MANSCDP+xml")),
            render("Notify", "Broadcast", sn, "", [("SourceID", SERVER), ("TargetID", target)]))
        self.platform.send(request)
        result, invite = "", None
        while not result or (result == "OK" and invite is None):
            msg = self.platform.receive()
            if isinstance(msg, SipResponse):
                continue
            if msg.method == "INVITE":
                invite = msg
                continue
            self.platform.send(response_to(msg, 200, "OK", "k"))
            if msg.method == "MESSAGE" and (body := parse_body(msg.body)).cmd_type == "Broadcast":
                assert body.sn == sn and body.fields["DeviceID"] == target
                result = body.fields["Result"]
        return result, invite

    def answer(self, invite: SipRequest, port: int, tcp: bool) -> SipResponse:
        """100 Trying, then 200 OK with where the audio comes from; the node's ACK."""
        self.platform.send(response_to(invite, 100, "Trying"))
        proto = "TCP/RTP/AVP" if tcp else "RTP/AVP"
        sdp = (f"v=0\r\no={SERVER} 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\n"
               f"t=0 0\r\nm=audio {port} {proto} 8\r\na=rtpmap:8 PCMA/8000/1\r\na=sendonly\r\n"
               + ("a=connection:new\r\na=setup:passive\r\n" if tcp else "")
               + "y=0100000001\r\nf=v/////a/1/8/1\r\n")
        ok = with_header(response_to(invite, 200, "OK", "wvp"), "Contact",
                         f"<sip:{SERVER}@127.0.0.1:{self.platform.port}>")
        ok = with_header(ok, "Content-Type", "APPLICATION/SDP")
        ok = SipResponse(ok.status, ok.reason, ok.headers, sdp.encode())
        self.platform.send(ok)
        ack = self.platform.request("ACK")
        assert "tag=wvp" in (ack.header("To") or "")
        return ok

    def bye(self, invite: SipRequest, ok: SipResponse) -> SipResponse:
        headers = [(k, v) for k, v in invite.headers
                   if k in ("Call-ID", "Via")]
        request = SipRequest("BYE", f"sip:{NODE}@127.0.0.1", tuple(headers) + (
            ("From", ok.header("To") or ""), ("To", invite.header("From") or ""),
            ("CSeq", "2 BYE")))
        self.platform.send(request)
        while True:
            msg = self.platform.receive()
            if isinstance(msg, SipResponse) and msg.header("CSeq") == "2 BYE":
                return msg

    def ended(self, speaker: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.speakers.get(speaker).idle:
            assert time.monotonic() < deadline, "the broadcast did not end"
            time.sleep(0.05)

    def close(self) -> None:
        self.stop_event.set()
        self.runner.join(15)
        self.platform.close()


@pytest.fixture(params=["udp", "tcp"])
def node(request: pytest.FixtureRequest, tmp_path: Path, alsa_file: Path) -> Iterator[Node]:
    n = Node(tmp_path, request.param)
    yield n
    n.close()


def test_a_platform_broadcast_plays_on_the_speaker(node: Node, alsa_file: Path) -> None:
    tcp = node.platform.transport == "tcp"
    result, invite = node.notify(SPEAKER, 11)
    assert result == "OK" and invite is not None
    assert invite.header("Subject") == f"{SERVER}:0,{SPEAKER}:0"
    offer = invite.body.decode()
    assert ("TCP/RTP/AVP" in offer and "a=setup:active" in offer) if tcp else "RTP/AVP" in offer
    tone = _tone(2.0, TONE_HZ)
    rtp = Packetizer(ssrc=100000001, payload_type=8)
    packets = [rtp.packets(tone[i:i + 160], i)[0] for i in range(0, len(tone), 160)]
    if tcp:  # the platform listens, the node connects (a=setup:active in its offer)
        server = socket.create_server(("127.0.0.1", 0))
        ok = node.answer(invite, server.getsockname()[1], tcp=True)
        server.settimeout(10)
        conn, _ = server.accept()
        for packet in packets:
            conn.sendall(frame_tcp(packet))
    else:
        port = int(offer.split("m=audio ")[1].split()[0])
        ok = node.answer(invite, 9, tcp=False)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for n, packet in enumerate(packets):
                sender.sendto(packet, ("127.0.0.1", port))
                if n % 10 == 9:
                    time.sleep(0.01)  # no burst bigger than the socket's buffer
    # a second broadcast over the first (the same priority) is refused, the first goes on
    assert node.notify(SPEAKER, 12) == ("ERROR", None)
    deadline = time.monotonic() + 30
    while node.speakers.get(SPEAKER).samples < len(tone):
        assert time.monotonic() < deadline, "not all of the audio was played"
        time.sleep(0.05)
    assert node.bye(invite, ok).status == 200
    node.ended(SPEAKER)
    heard = played(alsa_file)
    assert heard.size == len(tone)  # every sample of every packet, none twice
    assert abs(peak_hz(heard) - TONE_HZ) < 10
    if tcp:
        conn.close()
        server.close()
    index = Index(node.cfg.data_dir)
    audit = {action: detail for _, _, action, detail in index.audit_log()}
    index.close()
    assert audit["broadcast"]["speaker"] == SPEAKER and audit["broadcast"]["accepted"] is False
    assert "BYE" in str(audit["broadcast_end"]["reason"])


def test_a_dead_sound_card_or_silence_ends_the_broadcast_with_a_bye(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge.gb28181.media.audioreceiver.FIRST_AUDIO_S", 1.0)
    # the camera's own ID: WVP's broadcast button on the camera's channel plays on the
    # speaker beside it
    for target, send_audio in ((CAM, True), (SPEAKER, False)):
        result, invite = node.notify(target, 20 + send_audio)
        assert result == "OK" and invite.header("Subject") == f"{SERVER}:0,{target}:0"
        server = socket.create_server(("127.0.0.1", 0)) if node.platform.transport == "tcp" \
            else None
        port = server.getsockname()[1] if server else 9
        node.answer(invite, port, tcp=server is not None)
        if send_audio:
            packet = Packetizer(1, 8).packets(_tone(0.02), 0)[0]
            if server:
                server.settimeout(10)
                conn, _ = server.accept()
                conn.sendall(frame_tcp(packet))
                conn.close()
            else:
                offer_port = int(invite.body.decode().split("m=audio ")[1].split()[0])
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                    sender.sendto(packet, ("127.0.0.1", offer_port))
        bye = node.platform.request("BYE")  # the node ends it, and says so
        assert bye.header("Call-ID") == invite.header("Call-ID")
        node.platform.send(response_to(bye, 200, "OK"))
        node.ended(DEAD if target == CAM else target)
        if server:
            server.close()
    # the room takes the speaker back at once
    assert node.speakers.get(SPEAKER).claim("web:admin", PRIORITY_ROOM) is not None
    index = Index(node.cfg.data_dir)
    audit = [(action, detail) for _, _, action, detail in index.audit_log()]
    index.close()
    assert ("broadcast", {"speaker": DEAD, "target": CAM, "source": SERVER, "accepted": True,
                          "reason": ""}) in audit
    assert any(action == "broadcast_end" and detail["speaker"] == DEAD
               and detail["target"] == CAM for action, detail in audit)


@pytest.mark.parametrize("sender", ["active", "passive"])
def test_udp_audio_reaches_a_node_behind_a_nat(tmp_path: Path, alsa_file: Path,
                                               sender: str) -> None:
    """The platform saw the REGISTER come from 127.0.0.2 (as from a 4G NAT's public
    address): the offer's o= says so, and the node sends empty RTP with its y= SSRC from
    its audio port to the platform's. Heard either way: a platform that sends to o=
    (WVP with ZLMediaKit's startSendRtp) and one that waits for that packet and answers
    where it came from (ZLMediaKit's UDP passive sender)."""
    node = Node(tmp_path, "udp", seen_as="127.0.0.2")
    try:
        result, invite = node.notify(SPEAKER, 31)
        assert result == "OK" and invite is not None
        offer = invite.body.decode()
        assert "o=" + NODE + " 0 0 IN IP4 127.0.0.2" in offer and "c=IN IP4 127.0.0.2" in offer
        our_port = int(offer.split("m=audio ")[1].split()[0])
        ssrc = int(offer.split("y=")[1].split()[0])
        tone = _tone(1.0, TONE_HZ)
        rtp = Packetizer(ssrc=ssrc, payload_type=8)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
            media.bind(("127.0.0.1", 0))
            ok = node.answer(invite, media.getsockname()[1], tcp=False)
            media.settimeout(10)
            punch, source = media.recvfrom(2048)
            assert source[1] == our_port  # from the port in the offer: what a NAT maps
            assert len(punch) == 12 and punch[0] == 0x80 and punch[1] & 0x7F == 8
            assert int.from_bytes(punch[8:12], "big") == ssrc
            target = source if sender == "passive" else ("127.0.0.2", our_port)
            for i in range(0, len(tone), 160):
                media.sendto(rtp.packets(tone[i:i + 160], i)[0], target)
                time.sleep(0.002)
            deadline = time.monotonic() + 30
            while node.speakers.get(SPEAKER).samples < len(tone):
                assert time.monotonic() < deadline, "not all of the audio was played"
                time.sleep(0.05)
            assert node.bye(invite, ok).status == 200
        node.ended(SPEAKER)
        heard = played(alsa_file)
        assert heard.size == len(tone)
        assert abs(peak_hz(heard) - TONE_HZ) < 10
    finally:
        node.close()


def test_a_port_another_program_holds_is_skipped(tmp_path: Path, alsa_file: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("0.0.0.0", 0))
        busy = other.getsockname()[1]
        node = Node(tmp_path, "udp", ports=(busy, busy + 40))
        try:
            result, invite = node.notify(SPEAKER, 51)
            assert result == "OK" and invite is not None
            port = int(invite.body.decode().split("m=audio ")[1].split()[0])
            assert busy < port <= busy + 40
        finally:
            node.close()
