"""Talk (对讲) end to end: `edge run` with a camera that sends G.711A (or AAC, decoded
on the box); a scripted platform INVITEs the camera with ``s=Talk`` as WVP does (TCP, the
platform listening, sendrecv, PCMA): the camera's microphone (a 440 Hz tone, from the
recorder's own pull) arrives as raw RTP PCMA, and what the platform says back (1 kHz)
comes out of the loudspeaker beside the camera (a real ALSA PCM,
tests/integration/conftest.py)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from edge.gb28181.media.rtp import Packetizer, TcpDeframer, frame_tcp, parse_rtp
from edge.gb28181.sip.message import SipResponse, response_to
from edge.record.index import Index
from edge.sim.server import CameraServer, free_port
from edge.voice import g711
from tests.conftest import Daemon, wait_for, write_config
from tests.integration.conftest import peak_hz, played
from tests.integration.scripted_platform import (
    PASSWORD, SERVER, SSRC, ScriptedPlatform, final_response, in_dialog, invite, register,
)
from tests.unit.gb28181.test_broadcast import _tone

CAM = "34020000001320000001"
SPEAKER = "34020000001370000001"


def talk_offer(port: int) -> bytes:
    lines = ["v=0", f"o={SERVER} 0 0 IN IP4 127.0.0.1", "s=Talk", "c=IN IP4 127.0.0.1",
             "t=0 0", f"m=audio {port} TCP/RTP/AVP 8", "a=setup:passive", "a=connection:new",
             "a=sendrecv", "a=rtpmap:8 PCMA/8000", f"y={SSRC}", "f=v/////a/1/8/1"]
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.mark.parametrize("clip", ["h264_g711a", "h264_aac"])
def test_the_platform_talks_with_the_people_at_a_camera(
        tmp_path: Path, cameras: Callable[..., CameraServer], alsa_file: Path,
        clip: str) -> None:
    camera = cameras({"/b": clip})
    platform = ScriptedPlatform("udp")
    data = tmp_path / "data"
    config = write_config(
        tmp_path / "edge.toml", data, [(CAM, camera.url("/b"))],
        extra=f"sip_port = {free_port()}\n\n[[platforms]]\nid = \"{SERVER}\"\n"
              f"host = \"127.0.0.1\"\nport = {platform.port}\npassword = \"{PASSWORD}\"\n"
              f"keepalive_interval = 30\n\n[[speakers]]\nid = \"{SPEAKER}\"\n"
              f"name = \"村口喇叭\"\ndevice = \"edgetest\"\ncamera = \"{CAM}\"\n")
    daemon = Daemon(config).start()
    listener = socket.create_server(("127.0.0.1", 0))  # the platform's media server listens
    try:
        register(platform)
        index = Index(data, readonly=True)
        wait_for(lambda: index.summary(CAM)[2] > 0, 30, "the camera recording")
        index.close()
        request = invite(platform, CAM, talk_offer(listener.getsockname()[1]), "talk-1")
        platform.send(request)
        ok, _ = final_response(platform, "talk-1")
        assert ok.status == 200, ok
        answer = ok.body.decode()
        assert "s=Talk" in answer and "m=audio" in answer and "a=sendrecv" in answer
        assert "a=setup:active" in answer and "PCMA/8000" in answer
        platform.send(in_dialog("ACK", request, ok, 1))
        listener.settimeout(15)
        conn, _ = listener.accept()  # the node connects (it is behind the 4G NAT)
        conn.settimeout(15)

        # the camera's microphone: raw RTP PCMA with our SSRC, the camera's 440 Hz
        deframer, heard = TcpDeframer(), []
        while len(heard) < 100:
            for packet in deframer.feed(conn.recv(65_535)):
                rtp = parse_rtp(packet)
                assert rtp.payload_type == 8 and rtp.ssrc == int(SSRC)
                heard.append(rtp.payload)
        mic = g711.decode("pcma", b"".join(heard))
        assert abs(peak_hz(mic) - 440) < 10

        # the platform's voice back, to the loudspeaker beside the camera
        back = _tone(1.0, 1000.0)
        rtp_out = Packetizer(ssrc=100000002, payload_type=8)
        for i in range(0, len(back), 160):
            conn.sendall(frame_tcp(rtp_out.packets(back[i:i + 160], i)[0]))
        time.sleep(1.0)
        platform.send(in_dialog("BYE", request, ok, 2))
        while True:
            msg = platform.receive()
            if isinstance(msg, SipResponse) and msg.header("CSeq") == "2 BYE":
                assert msg.status == 200
                break
            if not isinstance(msg, SipResponse):
                platform.send(response_to(msg, 200, "OK", "k"))

        def ended() -> bool:
            index = Index(data, readonly=True)
            try:
                return bool(index.audit_log(action="gb_talk_end"))
            finally:
                index.close()

        wait_for(ended, 30, "the talk's end in the audit log")
        wait_for(lambda: alsa_file.exists() and played(alsa_file).size >= 8000, 30,
                 "the platform's voice played")
        said = played(alsa_file)
        assert said.size == 8000 and abs(peak_hz(said) - 1000) < 10
        assert np.abs(said).max() > 1000
        conn.close()
    finally:
        listener.close()
        daemon.stop()
        platform.close()
