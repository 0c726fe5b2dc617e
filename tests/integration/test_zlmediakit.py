"""Live video, broadcast and talk with a real ZLMediaKit, as WVP-GB28181-pro drives it.

Live: WVP opens an RTP server on its ZLMediaKit (``openRtpServer``: UDP, or TCP with
ZLMediaKit listening, with the SSRC it checks) and INVITEs the channel with that port; the
node's PS must become a stream ZLMediaKit can serve — played back from it over RTSP here,
every frame's burned-in counter in order.

WVP never touches media: when the node INVITEs it for a broadcast's audio, it asks its
ZLMediaKit to send the broadcast stream to the node (``InviteRequestProcessor`` and
``ZLMMediaNodeServerService`` in its source) — over UDP ``startSendRtp`` to the o=
address and port of our offer, from the port in its answer; over TCP, with our offer's
``a=setup:active``, ``startSendRtpPassive``: ZLMediaKit listens, the node connects. Raw
RTP, PT 8, only the audio. A third way: ``startSendRtpPassive`` over UDP, ZLMediaKit's
answer to a device behind a NAT — it sends nothing until a packet comes from the device,
then sends to where it came from (the node's punch). Talk (对讲): WVP has ZLMediaKit listen
(``startSendRtpPassive`` over TCP with a ``recv_stream_id``) and INVITEs the camera with
``s=Talk`` and that port; the node connects, sends the camera's microphone and plays what
comes back: ZLMediaKit makes a stream of the microphone and sends the broadcast stream.

Here a real MediaServer holds a 1 kHz A-law tone pushed to it over RTSP by the ffmpeg CLI
(as WVP's page pushes the room's microphone), and the scripted platform calls its HTTP
API exactly as WVP does. ZLMediaKit is in no Debian or PyPI package: point ``EDGE_ZLMEDIAKIT`` at a
``MediaServer`` binary (tested with ZLMediaKit's commit daaa74a7 of 2026-07-23).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import av
import numpy as np

from edge.gb28181.sip.message import SipResponse, response_to
from edge.record.index import Index
from edge.sim.server import CameraServer, free_port
from tests.conftest import Daemon, wait_for, write_config
from tests.integration.conftest import peak_hz, played
from tests.integration.scripted_platform import (
    PASSWORD, SERVER as PLATFORM, ScriptedPlatform, final_response, in_dialog, invite,
    register,
)
from edge.sim.clips import read_counter
from tests.integration.broker import Broker
from tests.integration.scripted_platform import NODE, SSRC, offer
from tests.integration.test_broadcast import SPEAKER, TONE_HZ, Node
from tests.integration.test_media_live import (
    CAM_264, CAM_265, contiguous, invite_when_online, recorded_counters, start_node,
)
from tests.integration.test_talk import CAM, talk_offer

SERVER = os.environ.get("EDGE_ZLMEDIAKIT", "")
SECRET = "edge-test-secret"
APP, STREAM = "broadcast", "tone"

pytestmark = pytest.mark.skipif(
    not SERVER or not Path(SERVER).is_file() or not shutil.which("ffmpeg"),
    reason="needs ZLMediaKit's MediaServer (in no Debian or PyPI package: "
           "EDGE_ZLMEDIAKIT=/path/to/MediaServer) and ffmpeg")


class ZLMediaKit:
    def __init__(self, workdir: Path) -> None:
        self.http, self.rtsp = free_port(), free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.ini").write_text(
            f"[api]\napiDebug=1\nsecret={SECRET}\n"
            "[general]\nmediaServerId=edge-test\nenableVhost=0\n"
            "[hook]\nenable=0\n"
            "[protocol]\nenable_hls=0\nenable_mp4=0\n"
            f"[http]\nport={self.http}\nsslport=0\n"
            f"[rtsp]\nport={self.rtsp}\nsslport=0\n"
            "[rtmp]\nport=0\nsslport=0\n[shell]\nport=0\n[rtp_proxy]\nport=0\n")
        self.log = (workdir / "zlm.log").open("wb")
        self.proc = subprocess.Popen([SERVER, "-c", str(workdir / "config.ini"), "-l", "2"],
                                     cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        self.pusher: subprocess.Popen[bytes] | None = None
        deadline = time.monotonic() + 30
        while True:
            try:
                self.api("getServerConfig")
                break
            except OSError:
                assert self.proc.poll() is None, "MediaServer exited at start"
                assert time.monotonic() < deadline, "MediaServer's API did not come up"
                time.sleep(0.2)

    def api(self, name: str, **params: Any) -> dict[str, Any]:
        query = urllib.parse.urlencode({"secret": SECRET, "vhost": "__defaultVhost__",
                                        **params})
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http}/index/api/{name}?{query}", timeout=10) as r:
            answer: dict[str, Any] = json.loads(r.read())
        return answer

    def push_tone(self) -> None:
        """ffmpeg pushes a 1 kHz tone, G.711 A-law 8 kHz mono, over RTSP, in real time."""
        self.pusher = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
             f"sine=frequency={TONE_HZ:.0f}:sample_rate=8000", "-c:a", "pcm_alaw", "-ar",
             "8000", "-ac", "1", "-f", "rtsp", "-rtsp_transport", "tcp",
             f"rtsp://127.0.0.1:{self.rtsp}/{APP}/{STREAM}"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self.api("getMediaList", app=APP, stream=STREAM).get("data"):
            assert self.pusher.poll() is None, "ffmpeg's push ended"
            assert time.monotonic() < deadline, "the tone never reached MediaServer"
            time.sleep(0.2)

    def close(self) -> None:
        for proc in (self.pusher, self.proc):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def zlm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZLMediaKit]:
    server = ZLMediaKit(tmp_path_factory.mktemp("zlm"))
    try:
        server.push_tone()
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(("channel", "transport"), [
    (CAM_264, "udp"), (CAM_264, "tcp-listen"), (CAM_264, "tcp-connect"), (CAM_265, "udp")])
def test_live_video_becomes_a_zlmediakit_stream(
        zlm: ZLMediaKit, tmp_path: Path, cameras: Callable[..., CameraServer], broker: Broker,
        channel: str, transport: str) -> None:
    platform, daemon = start_node(tmp_path, cameras, broker)
    stream = f"{NODE}_{channel}_{transport}"
    try:
        # tcp_mode 0 UDP, 1 ZLMediaKit listens (WVP's "TCP 被动"), 2 it connects ("TCP 主动")
        mode = {"udp": 0, "tcp-listen": 1, "tcp-connect": 2}[transport]
        opened = zlm.api("openRtpServer", port=0, tcp_mode=mode, stream_id=stream,
                         ssrc=int(SSRC))
        assert opened["code"] == 0, opened
        request, ok, _, _ = invite_when_online(
            platform, channel, offer(transport, opened["port"]), f"zlm-{transport}-{channel}")
        assert ok.status == 200, (ok.status, ok.reason)
        if transport == "tcp-connect":  # WVP: connectRtpServer to the port of our answer
            our_port = int(ok.body.decode().split("m=video ")[1].split()[0])
            connected = zlm.api("connectRtpServer", stream_id=stream, dst_url="127.0.0.1",
                                dst_port=our_port)
            assert connected["code"] == 0, connected
        platform.send(in_dialog("ACK", request, ok, 1))
        wait_for(lambda: bool(zlm.api("getMediaList", app="rtp", stream=stream).get("data")),
                 30, "the node's video as a ZLMediaKit stream")
        media = zlm.api("getMediaList", app="rtp", stream=stream)["data"][0]  # per schema
        codecs = {t["codec_id_name"] for t in media["tracks"]}
        assert codecs == {"H264" if channel == CAM_264 else "H265", "PCMA"}, media["tracks"]
        counters: list[int] = []
        with av.open(f"rtsp://127.0.0.1:{zlm.rtsp}/rtp/{stream}",
                     options={"rtsp_transport": "tcp"}, timeout=10) as player:
            for frame in player.decode(video=0):
                counters.append(read_counter(frame.to_ndarray(format="gray")))
                if len(counters) >= 75:
                    break
        assert contiguous(counters), counters
        platform.send(in_dialog("BYE", request, ok, 2))
        assert final_response(platform, request.header("Call-ID") or "")[0].status == 200
    finally:
        zlm.api("closeRtpServer", stream_id=stream)
        daemon.stop()
        platform.close()


def test_playback_becomes_a_zlmediakit_stream(
        zlm: ZLMediaKit, tmp_path: Path, cameras: Callable[..., CameraServer],
        broker: Broker) -> None:
    """WVP's playback: the same RTP server, ``s=Playback`` with ``u=`` and ``t=``."""
    platform, daemon = start_node(tmp_path, cameras, broker)
    stream = f"{NODE}_{CAM_264}_playback"
    try:
        index = Index(tmp_path / "data", readonly=True)
        wait_for(lambda: (lambda s: bool(s[0] and s[1] and s[1] - s[0] > 14))(
            index.summary(CAM_264)), 60, "14 s recorded")
        oldest = index.summary(CAM_264)[0]
        index.close()
        start, end = float(int(oldest) + 3), float(int(oldest) + 11)
        want = recorded_counters(tmp_path / "data", CAM_264, start, end)
        opened = zlm.api("openRtpServer", port=0, tcp_mode=0, stream_id=stream,
                         ssrc=int(SSRC))
        assert opened["code"] == 0, opened
        body = offer("udp", opened["port"], "Playback").decode()
        body = body.replace("t=0 0", f"t={int(start)} {int(end)}").replace(
            "s=Playback", f"s=Playback\r\nu={CAM_264}:0")
        request = invite(platform, CAM_264, body.encode(), "zlm-playback")
        platform.send(request)
        ok, _ = final_response(platform, "zlm-playback")
        assert ok.status == 200, (ok.status, ok.reason)
        platform.send(in_dialog("ACK", request, ok, 1))
        wait_for(lambda: bool(zlm.api("getMediaList", app="rtp", stream=stream).get("data")),
                 30, "the node's playback as a ZLMediaKit stream")
        got: list[int] = []
        with av.open(f"rtsp://127.0.0.1:{zlm.rtsp}/rtp/{stream}",
                     options={"rtsp_transport": "tcp"}, timeout=10) as player:
            for frame in player.decode(video=0):  # until the stream ends (or the last)
                got.append(read_counter(frame.to_ndarray(format="gray")))
                if got[-1] == want[-1] or len(got) > 2 * len(want):
                    break
        # from the keyframe ZLMediaKit had when we asked, every frame in order to the
        # range's end — but for its last few: when a stream stops ZLMediaKit keeps them
        # until more comes (its PS assembly waits for the next timestamp), i.e. until its
        # RTP server times out (measured: 3 frames; 2 with an MPEG end code after the last)
        assert contiguous(got) and len(got) >= 25, (got, want)
        assert got[-1] in want[-5:], (got, want)
        platform.send(in_dialog("BYE", request, ok, 2))
        assert final_response(platform, "zlm-playback")[0].status == 200
    finally:
        zlm.api("closeRtpServer", stream_id=stream)
        daemon.stop()
        platform.close()


@pytest.mark.parametrize("way", ["udp", "udp-passive", "tcp"])
def test_zlmediakit_sends_the_broadcast_as_wvp_asks_it(
        zlm: ZLMediaKit, tmp_path: Path, alsa_file: Path, way: str) -> None:
    # udp-passive: the platform saw us from 127.0.0.2 (a NAT's public address, as in
    # test_broadcast); ZLMediaKit is told no address at all and must answer our punch
    node = Node(tmp_path, "tcp" if way == "tcp" else "udp",
                seen_as="127.0.0.2" if way == "udp-passive" else "")
    try:
        result, invite = node.notify(SPEAKER, 41)
        assert result == "OK" and invite is not None
        offer = invite.body.decode()
        ssrc = offer.split("y=")[1].split()[0]
        address = offer.split("c=IN IP4 ")[1].split()[0]
        port = int(offer.split("m=audio ")[1].split()[0])
        common = {"app": APP, "stream": STREAM, "ssrc": ssrc, "pt": 8, "use_ps": 0,
                  "only_audio": 1}
        if way == "tcp":
            started = zlm.api("startSendRtpPassive", is_udp=0, **common)
            assert started["code"] == 0, started
            ok = node.answer(invite, started["local_port"], tcp=True)
        else:
            src_port = free_port()
            ok = node.answer(invite, src_port, tcp=False)
            if way == "udp":  # WVP: after the 200 OK (BroadcastPushAfterAck off)
                started = zlm.api("startSendRtp", is_udp=1, dst_url=address, dst_port=port,
                                  src_port=src_port, **common)
            else:
                started = zlm.api("startSendRtpPassive", is_udp=1, src_port=src_port,
                                  **common)
            assert started["code"] == 0, started
        deadline = time.monotonic() + 60
        while node.speakers.get(SPEAKER).samples < 3 * 8000:
            assert time.monotonic() < deadline, "ZLMediaKit's audio was not played"
            time.sleep(0.1)
        assert node.bye(invite, ok).status == 200
        node.ended(SPEAKER)
        zlm.api("stopSendRtp", app=APP, stream=STREAM, ssrc=ssrc)
        heard = played(alsa_file)
        assert heard.size >= 3 * 8000
        assert abs(peak_hz(heard) - TONE_HZ) < 10
        assert abs(heard[8000:16000].astype(float)).mean() > 1000  # a tone, not silence
    finally:
        node.close()


def test_a_talk_through_zlmediakit_as_wvp_sets_it_up(
        zlm: ZLMediaKit, tmp_path: Path, cameras: Callable[..., CameraServer],
        alsa_file: Path) -> None:
    camera = cameras({"/b": "h264_g711a"})  # its microphone: a 440 Hz tone
    platform = ScriptedPlatform("udp")
    data = tmp_path / "data"
    config = write_config(
        tmp_path / "edge.toml", data, [(CAM, camera.url("/b"))],
        extra=f"sip_port = {free_port()}\n\n[[platforms]]\nid = \"{PLATFORM}\"\n"
              f"host = \"127.0.0.1\"\nport = {platform.port}\npassword = \"{PASSWORD}\"\n"
              f"keepalive_interval = 30\n\n[[speakers]]\nid = \"{SPEAKER}\"\n"
              f"name = \"村口喇叭\"\ndevice = \"edgetest\"\ncamera = \"{CAM}\"\n")
    daemon = Daemon(config).start()
    try:
        register(platform)
        index = Index(data, readonly=True)
        wait_for(lambda: index.summary(CAM)[2] > 0, 30, "the camera recording")
        index.close()
        # PlayServiceImpl.talk: ZLMediaKit listens over TCP, sends the broadcast stream and
        # makes a stream "<app>/cam_talk" of what the device sends
        started = zlm.api("startSendRtpPassive", app=APP, stream=STREAM, ssrc="0100000009",
                          is_udp=0, pt=8, use_ps=0, only_audio=1, recv_stream_id="cam_talk",
                          enable_origin_recv_limit=0)
        assert started["code"] == 0, started
        request = invite(platform, CAM, talk_offer(started["local_port"]), "zlm-talk")
        platform.send(request)
        ok, _ = final_response(platform, "zlm-talk")
        assert ok.status == 200, ok
        platform.send(in_dialog("ACK", request, ok, 1))
        # the camera's microphone, as ZLMediaKit took it: played back from it over RTSP
        wait_for(lambda: bool(zlm.api("getMediaList", app=APP, stream="cam_talk").get("data")),
                 30, "ZLMediaKit's stream of the camera's microphone")
        mic = []
        with av.open(f"rtsp://127.0.0.1:{zlm.rtsp}/{APP}/cam_talk",
                     options={"rtsp_transport": "tcp"}, timeout=10) as player:
            for frame in player.decode(audio=0):
                mic.append(frame.to_ndarray().reshape(-1))
                if sum(m.size for m in mic) >= 8000:
                    break
        assert abs(peak_hz(np.concatenate(mic)) - 440) < 10
        # and the broadcast's tone on the loudspeaker beside the camera
        wait_for(lambda: alsa_file.exists() and played(alsa_file).size >= 2 * 8000, 30,
                 "ZLMediaKit's audio played beside the camera")
        platform.send(in_dialog("BYE", request, ok, 2))
        while True:
            msg = platform.receive()
            if isinstance(msg, SipResponse) and msg.header("CSeq") == "2 BYE":
                assert msg.status == 200
                break
            if not isinstance(msg, SipResponse):
                platform.send(response_to(msg, 200, "OK", "k"))
        zlm.api("stopSendRtp", app=APP, stream=STREAM, ssrc="0100000009")
        said = played(alsa_file)
        assert abs(peak_hz(said) - TONE_HZ) < 10
        assert np.abs(said.astype(float)).mean() > 1000
    finally:
        daemon.stop()
        platform.close()
