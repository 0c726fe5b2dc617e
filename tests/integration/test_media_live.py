"""Live video through the cascade: an upper platform INVITEs a channel of `edge run` and
receives PS over RTP (UDP, TCP with us connecting, TCP with us listening), which is
de-framed with our own parser and decoded with PyAV. The simulated cameras burn a frame
counter into every frame, so a missing frame shows."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import av
import jsonschema
import pytest

from edge.gb28181.media.rtp import TcpDeframer, parse_rtp
from edge.gb28181.sip.message import SipRequest, SipResponse, response_to
from edge.mqtt.encoding import decode as decode_payload
from edge.sim.clips import read_counter
from edge.sim.impair import LinkProfile, TcpLink
from edge.sim.server import CameraServer, free_port
from tests.conftest import CLIP_FRAMES, ROOT, Daemon, wait_for, write_config
from tests.integration.broker import Broker, Subscriber
from tests.integration.scripted_platform import (
    NODE, PASSWORD, SERVER, SSRC, ScriptedPlatform, final_response, in_dialog, invite, offer, register,
)

CAM_264 = "34020000001320000001"
CAM_265 = "34020000001320000002"
HEALTH_SCHEMA = json.loads((ROOT / "edge" / "health" / "health.schema.json").read_text())


class Receiver:
    """The platform's media port: collects RTP packets (UDP, or TCP in either role)."""

    opened: list["Receiver"] = []  # closed after each test, also one that failed halfway

    def __init__(self, transport: str) -> None:
        Receiver.opened.append(self)
        self.transport = transport
        self.error: OSError | None = None
        self.packets: list[tuple[float, bytes]] = []
        self.port = free_port()
        self.stop = threading.Event()
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        if transport == "udp":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        if transport == "tcp-listen":
            self.sock.listen(1)
        self.thread: threading.Thread | None = None

    def start(self, connect_to: int | None = None) -> None:
        self.thread = threading.Thread(target=self._run, args=(connect_to,), daemon=True)
        self.thread.start()

    def _run(self, connect_to: int | None) -> None:
        sock = self.sock
        if self.transport == "tcp-listen":
            sock.settimeout(10)
            sock, _ = self.sock.accept()
        elif self.transport == "tcp-connect":
            assert connect_to is not None
            try:
                sock.connect(("127.0.0.1", connect_to))
            except OSError as exc:
                self.error = exc  # the test reports it
                return
        sock.settimeout(0.2)
        deframer = TcpDeframer()
        while not self.stop.is_set():
            try:
                data = sock.recv(1 << 16)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                break
            if not data and self.transport != "udp":
                break
            now = time.monotonic()
            chunks = [data] if self.transport == "udp" else deframer.feed(data)
            self.packets.extend((now, c) for c in chunks)
        if sock is not self.sock:
            sock.close()

    def close(self) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join(5)
        self.sock.close()


@pytest.fixture(autouse=True)
def close_receivers() -> Iterator[None]:
    yield
    while Receiver.opened:
        Receiver.opened.pop().close()


def frames_of(packets: list[bytes]) -> tuple[bytes, list[int]]:
    """The PS byte stream, checking RTP rules on the way; and the frames' timestamps."""
    stream, stamps = bytearray(), []
    last_ts, last_seq = None, None
    for raw in packets:
        rtp = parse_rtp(raw)
        assert rtp.ssrc == int(SSRC) and rtp.payload_type == 96
        if last_seq is not None:
            assert rtp.seq == (last_seq + 1) & 0xFFFF, "RTP sequence gap"
        last_seq = rtp.seq
        if rtp.timestamp != last_ts:
            stamps.append(rtp.timestamp)
            last_ts = rtp.timestamp
        stream += rtp.payload
    return bytes(stream), stamps


def decode(ps: bytes, path: Path) -> tuple[list[av.VideoFrame], str, str | None]:
    path.write_bytes(ps)
    with av.open(str(path), format="mpeg") as container:
        video = container.streams.video[0].codec_context.name
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        frames = list(container.decode(video=0))
    return frames, video, audio


def contiguous(counters: list[int]) -> bool:
    return all((b - a) % CLIP_FRAMES == 1 for a, b in zip(counters, counters[1:]))


def start_node(tmp_path: Path, cameras: Callable[..., CameraServer], broker: Broker,
               extra: str = "") -> tuple[ScriptedPlatform, Daemon]:
    cams = cameras({"/a": "h264_g711a", "/b": "h265_g711a", "/sub": "h265"})
    platform = ScriptedPlatform("udp")
    rtp = min(free_port(), 65_000)
    config = write_config(
        tmp_path / "edge.toml", tmp_path / "data",
        [(CAM_264, cams.url("/a")), (CAM_265, cams.url("/b"))],
        extra=f"sip_port = {free_port()}\n\n[[platforms]]\nid = \"{SERVER}\"\n"
              f"host = \"127.0.0.1\"\nport = {platform.port}\npassword = \"{PASSWORD}\"\n"
              f"keepalive_interval = 5\n\n[media]\nrtp_port_range = [{rtp}, {rtp + 64}]\n"
              "max_sessions = 2\n" + extra + broker.config(),
        camera_extra=f'sub_url = "{cams.url("/sub")}"')  # the 4G sub stream: H.265, no audio
    daemon = Daemon(config).start()
    register(platform)
    return platform, daemon


@pytest.fixture
def node(tmp_path: Path, cameras: Callable[..., CameraServer], broker: Broker):
    platform, daemon = start_node(tmp_path, cameras, broker)
    yield platform, daemon
    daemon.stop()
    platform.close()


def live_udp(platform: ScriptedPlatform, call_id: str, path: Path, sub_stream: bool = False
             ) -> tuple[list[av.VideoFrame], str, str | None]:
    """4 s of CAM_264 live over UDP (asking for the sub stream if ``sub_stream``), decoded."""
    receiver = Receiver("udp")
    receiver.start()
    body = offer("udp", receiver.port)
    if sub_stream:
        body = body.replace(b"y=", b"a=streamnumber:1\r\ny=")
    request, ok, _, _ = invite_when_online(platform, CAM_264, body, call_id)
    assert ok.status == 200
    platform.send(in_dialog("ACK", request, ok, 1))
    time.sleep(4)
    platform.send(in_dialog("BYE", request, ok, 2))
    final_response(platform, request.header("Call-ID") or "")
    time.sleep(0.5)
    receiver.close()
    ps, _ = frames_of([p for _, p in receiver.packets])
    return decode(ps, path)


def test_over_the_data_budget_live_goes_out_as_the_sub_stream(
        tmp_path: Path, cameras: Callable[..., CameraServer], broker: Broker) -> None:
    """The SIM's month is spent (seeded: 2 MB of a 1-MB allowance): a platform asking for
    the main stream gets the sub stream (H.265, no audio), and the alarm is open."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from edge.record.index import Index
    from edge.uplink.store import ByteStore

    index = Index(tmp_path / "data")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    ByteStore(index.db).add(today, {"media": (2_000_000, 0)})
    index.close()
    platform, daemon = start_node(tmp_path, cameras, broker, "\n[uplink]\nmonthly_budget_mb = 1\n")
    try:
        status = tmp_path / "data" / "status.json"

        def restricted() -> bool:
            known = json.loads(status.read_text()) if status.exists() else {}
            return bool(known.get("uplink", {}).get("budget", {}).get("restricted"))

        wait_for(restricted, 30, "the budget judged")
        frames, video, audio = live_udp(platform, "budget-1", tmp_path / "budget.ps")
        assert (video, audio) == ("hevc", None) and frames, "the main stream went out"
        index = Index(tmp_path / "data", readonly=True)
        assert "uplink_over_budget" in {a.kind for a in index.alarms()}
        index.close()
        shown = subprocess.run([sys.executable, "-m", "edge", "status", "--config",
                                str(daemon.config)], capture_output=True, text=True).stdout
        assert "OVER BUDGET" in shown and "/ 1 MB" in shown
    finally:
        daemon.stop()
        platform.close()


def invite_when_online(platform: ScriptedPlatform, channel: str, body: bytes,
                       call_id: str) -> tuple[SipRequest, SipResponse, bool, float]:
    """INVITE until the camera is online (480 before); each try a new transaction."""
    deadline = time.monotonic() + 30
    while True:
        request = invite(platform, channel, body, call_id)
        sent = time.monotonic()
        platform.send(request)
        ok, trying = final_response(platform, call_id)
        if ok.status != 480 or time.monotonic() > deadline:
            return request, ok, trying, sent
        time.sleep(1)
        call_id += "x"


def play(platform: ScriptedPlatform, channel: str, transport: str, call_id: str,
         seconds: float, tmp_path: Path) -> tuple[list[av.VideoFrame], str, str | None, float]:
    receiver = Receiver(transport)
    if transport != "tcp-connect":
        receiver.start()
    request, ok, trying, sent = invite_when_online(platform, channel,
                                                   offer(transport, receiver.port), call_id)
    call_id = request.header("Call-ID") or ""
    assert ok.status == 200 and trying, (ok.status, ok.reason)
    answer = ok.body.decode()
    assert f"y={SSRC}" in answer and "a=sendonly" in answer
    our_port = int(answer.split("m=video ")[1].split()[0])
    if transport == "tcp-connect":  # at once, before the ACK: the port listens by the 200 OK
        receiver.start(connect_to=our_port)
    platform.send(in_dialog("ACK", request, ok, 1))
    wait = time.monotonic() + 10
    while not receiver.packets and time.monotonic() < wait and receiver.error is None:
        time.sleep(0.01)
    assert receiver.error is None, f"cannot connect to our media port: {receiver.error}"
    first_packet_s = receiver.packets[0][0] - sent if receiver.packets else float("inf")
    time.sleep(seconds)
    platform.send(in_dialog("BYE", request, ok, 2))
    bye_ok, _ = final_response(platform, call_id)
    assert bye_ok.status == 200
    time.sleep(0.5)
    receiver.close()
    ps, stamps = frames_of([p for _, p in receiver.packets])
    assert len(stamps) == len(set(stamps)), "a timestamp reused by two frames"
    frames, video, audio = decode(ps, tmp_path / f"{call_id}.ps")
    return frames, video, audio, first_packet_s


@pytest.mark.parametrize("transport", ["udp", "tcp-listen", "tcp-connect"])
def test_live_h264_with_g711a(transport: str, node, tmp_path: Path) -> None:
    platform, _ = node
    seconds = 30.0 if transport == "udp" else 5.0
    frames, video, audio, first = play(platform, CAM_264, transport, f"live-{transport}",
                                       seconds, tmp_path)
    assert (video, audio) == ("h264", "pcm_alaw")
    assert (frames[0].width, frames[0].height) == (640, 360)
    assert frames[0].key_frame  # the GOP cache: decodable from the first frame received
    counters = [read_counter(f.to_ndarray(format="gray")) for f in frames]
    assert contiguous(counters), counters
    assert len(frames) >= 25 * seconds * 0.9
    print(f"{transport}: INVITE to first RTP packet {first * 1000:.0f} ms, "
          f"{len(frames)} frames in {seconds:.0f} s")


def test_live_h265_and_refusals(node, tmp_path: Path) -> None:
    platform, _ = node
    frames, video, audio, _ = play(platform, CAM_265, "udp", "live-265", 4.0, tmp_path)
    assert (video, audio) == ("hevc", "pcm_alaw") and frames[0].key_frame
    assert contiguous([read_counter(f.to_ndarray(format="gray")) for f in frames])
    for call_id, channel, body, status in [
        ("bad-sdp", CAM_264, offer("udp", 40000).replace(f"y={SSRC}".encode(), b""), 488),
        ("bad-port", CAM_264, offer("udp", 40000).replace(b"m=video 40000", b"m=video 0"), 488),
        ("no-such", "34020000001320000099", offer("udp", 40000), 404),
    ]:
        platform.send(invite(platform, channel, body, call_id))
        refused, _ = final_response(platform, call_id)
        assert refused.status == status, (call_id, refused.status)


def recorded_counters(data: Path, channel: str, start: float, end: float) -> list[int]:
    """The burned-in counters of the recorded frames within [start, end]."""
    from edge.record.index import Index

    index = Index(data, readonly=True)
    segments = index.segments(channel, start, end)
    out = []
    for seg in segments:
        with av.open(str(index.absolute(seg))) as container:
            for frame in container.decode(video=0):
                t = seg.start_ts + float(frame.time or 0)
                if start <= t <= end:
                    out.append(read_counter(frame.to_ndarray(format="gray")))
    index.close()
    return out


def recorded_keyframes(data: Path, channel: str, start: float, end: float) -> list[int]:
    from edge.record.index import Index

    index = Index(data, readonly=True)
    out = []
    for seg in index.segments(channel, start, end):
        with av.open(str(index.absolute(seg))) as container:
            for frame in container.decode(video=0):
                t = seg.start_ts + float(frame.time or 0)
                if frame.key_frame and start <= t <= end:
                    out.append(read_counter(frame.to_ndarray(format="gray")))
    index.close()
    return out


def history(platform: ScriptedPlatform, kind: str, start: float, end: float, call_id: str,
            receiver: Receiver, extra: list[str] = ()) -> tuple[SipRequest, SipResponse]:
    body = offer("udp", receiver.port, kind).decode().replace("t=0 0", f"t={int(start)} {int(end)}")
    body = body.replace(f"y={SSRC}", "\r\n".join([*extra, f"y={SSRC}"]))
    body = body.replace("s=" + kind, f"s={kind}\r\nu={CAM_264}:0")
    request = invite(platform, CAM_264, body.encode(), call_id)
    platform.send(request)
    ok, _ = final_response(platform, call_id)
    assert ok.status == 200, (ok.status, ok.reason)
    platform.send(in_dialog("ACK", request, ok, 1))
    return request, ok


def steer(platform: ScriptedPlatform, request: SipRequest, ok: SipResponse, cseq: int,
          body: bytes) -> None:
    """A MANSRTSP INFO inside the playback dialog."""
    info = in_dialog("INFO", request, ok, cseq)
    platform.send(SipRequest("INFO", info.uri, info.headers + (
        ("Content-Type", "Application/MANSRTSP"),), body))


def hang_up(platform: ScriptedPlatform, request: SipRequest, ok: SipResponse, cseq: int,
            receiver: Receiver, path: Path) -> tuple[list[av.VideoFrame], str, str | None]:
    """BYE, then decode everything the receiver got."""
    platform.send(in_dialog("BYE", request, ok, cseq))
    time.sleep(0.5)
    receiver.close()
    ps, _ = frames_of([p for _, p in receiver.packets])
    return decode(ps, path)


def media_status(platform: ScriptedPlatform, call_id: str, timeout: float = 30.0) -> float:
    """Wait for MediaStatus 121 in the dialog; answer it; return when it came."""
    from edge.gb28181.manscdp import parse_body

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = platform.receive(timeout)
        if isinstance(msg, SipRequest):
            platform.send(response_to(msg, 200, "OK", "m"))
            if msg.method == "MESSAGE" and b"MediaStatus" in msg.body:
                body = parse_body(msg.body)
                assert body.fields["NotifyType"] == "121" and body.device_id == CAM_264
                assert msg.header("Call-ID") == call_id
                return time.monotonic()
    raise AssertionError("no MediaStatus 121")


def test_playback_pause_resume_and_download(node, tmp_path: Path) -> None:
    platform, _ = node
    data = tmp_path / "data"
    from edge.record.index import Index

    index = Index(data, readonly=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        oldest, newest, _, count = index.summary(CAM_264)
        if oldest and newest and newest - oldest > 14:
            break
        time.sleep(1)
    index.close()
    # 8 s of footage really recorded a moment ago (t= carries whole seconds)
    start, end = float(int(oldest) + 3), float(int(oldest) + 11)

    receiver = Receiver("udp")
    receiver.start()
    request, ok = history(platform, "Playback", start, end, "pb-1", receiver)
    time.sleep(2)
    steer(platform, request, ok, 2, b"PAUSE RTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n")
    time.sleep(0.5)
    paused_at = len(receiver.packets)
    time.sleep(2)
    assert len(receiver.packets) == paused_at, "packets kept coming during PAUSE"
    steer(platform, request, ok, 3, b"PLAY RTSP/1.0\r\nCSeq: 2\r\nRange: npt=now-\r\n")
    media_status(platform, "pb-1")
    frames, video, audio = hang_up(platform, request, ok, 4, receiver, tmp_path / "pb.ps")
    got = [read_counter(f.to_ndarray(format="gray")) for f in frames]
    assert (video, audio) == ("h264", "pcm_alaw") and frames[0].key_frame
    want = recorded_counters(data, CAM_264, start, end)
    assert contiguous(got) and got[-len(want):] == want  # from the keyframe before start

    # Scale 4 (keyframes only) with a seek to 4 s into the range
    receiver = Receiver("udp")
    receiver.start()
    request, ok = history(platform, "Playback", start, end, "pb-2", receiver)
    steer(platform, request, ok, 2, b"PLAY RTSP/1.0\r\nCSeq: 1\r\nScale: 4.0\r\nRange: npt=4-\r\n")
    media_status(platform, "pb-2")
    fast = [read_counter(f.to_ndarray(format="gray"))
            for f in hang_up(platform, request, ok, 3, receiver, tmp_path / "fast.ps")[0]]
    keyframes = recorded_keyframes(data, CAM_264, start - 1, end)
    assert fast and set(fast) <= set(keyframes)  # above Scale 2: keyframes only
    assert fast[-1] == keyframes[-1]  # to the end of the range
    assert len(fast) <= len(keyframes) - 2  # the seek to 4 s skipped the middle

    receiver = Receiver("udp")
    receiver.start()
    acked = time.monotonic()
    request, ok = history(platform, "Download", start, end, "dl-1", receiver,
                          ["a=downloadspeed:4"])
    took = media_status(platform, "dl-1") - acked
    frames, _, _ = hang_up(platform, request, ok, 2, receiver, tmp_path / "download.ps")
    assert [read_counter(f.to_ndarray(format="gray")) for f in frames][-len(want):] == want
    print(f"download of {end - start:.0f} s at speed 4 took {took:.1f} s")
    assert took < (end - start) / 2  # a loose bound (noisy machines): 4x should be ~1/4


def test_a_platform_on_4g_asks_for_the_sub_stream(node, tmp_path: Path) -> None:
    platform, daemon = node
    frames, video, audio = live_udp(platform, "sub-1", tmp_path / "sub.ps", sub_stream=True)
    assert (video, audio) == ("hevc", None) and frames[0].key_frame  # the sub stream's codec
    assert contiguous([read_counter(f.to_ndarray(format="gray")) for f in frames])
    log = (Path(daemon.config).parent / "edge.log").read_text()
    assert "sub stream" not in log or "ended" not in log  # no failure while it was pulled


def test_live_over_a_link_slower_than_the_stream_skips_instead_of_lagging(
        node, tmp_path: Path) -> None:
    """A 4G bearer slower than the stream (500 kbit/s for this ~0.9-Mbit/s camera, as
    1 Mbit/s is for a 2-Mbit/s main stream), TCP: the session drops to the next keyframe
    when the link falls behind, so the picture stays near real time; recording never
    waits for it."""
    platform, daemon = node
    receiver = Receiver("tcp-listen")
    receiver.start()
    link = TcpLink(("127.0.0.1", receiver.port), LinkProfile(rate_bps=500_000, delay_s=0.05))
    try:
        request, ok, _, _ = invite_when_online(
            platform, CAM_264, offer("tcp-listen", link.address[1]), "slow-1")
        assert ok.status == 200
        platform.send(in_dialog("ACK", request, ok, 1))
        started = time.time()
        time.sleep(25)
        platform.send(in_dialog("BYE", request, ok, 2))
        final_response(platform, request.header("Call-ID") or "")
        ended = time.time()
    finally:
        time.sleep(0.5)
        receiver.close()
        link.close()
    stamps = [(t, parse_rtp(p).timestamp) for t, p in receiver.packets]
    assert stamps, "nothing arrived over the slow link"
    (t0, ts0), (t1, ts1) = stamps[0], stamps[-1]
    lag = (t1 - t0) - ((ts1 - ts0) & 0xFFFFFFFF) / 90_000
    assert lag < 5.0, f"the picture fell {lag:.1f} s behind real time"
    log = (Path(daemon.config).parent / "edge.log").read_text()
    skipped = [line for line in log.splitlines() if "frames skipped" in line and "ended" in line]
    assert skipped and " 0 frames skipped" not in skipped[-1], skipped
    from edge.record.coverage import merge_ranges
    from edge.record.index import Index

    index = Index(Path(daemon.config).parent / "data", readonly=True)
    ranges = merge_ranges((s.start_ts, s.end_ts) for s in index.segments(CAM_264, started, ended))
    index.close()
    holes = [(a.end, b.start) for a, b in zip(ranges, ranges[1:]) if b.start - a.end > 1.0]
    assert not holes, f"recording waited: {holes}"


def test_a_platform_that_goes_away_ends_the_session(node, broker: Broker) -> None:
    """UDP: the platform's port closes (ICMP unreachable); TCP: the connection resets.
    While it lives, status.json and the MQTT health show it with its bytes."""
    platform, daemon = node
    status = Path(daemon.config).parent / "data" / "status.json"
    health = Subscriber(broker, [f"edge/{NODE}/health"])
    for transport in ("udp", "tcp-listen"):
        health.messages.clear()  # the previous session's health is not this one's
        receiver = Receiver(transport)
        receiver.start()
        request, ok, _, _ = invite_when_online(platform, CAM_264, offer(transport, receiver.port),
                                               f"gone-{transport}")
        assert ok.status == 200
        platform.send(in_dialog("ACK", request, ok, 1))
        while not receiver.packets:
            time.sleep(0.05)
        wait_for(lambda: any(s["bytes"] > 0 for s in
                             json.loads(status.read_text()).get("media_sessions", [])),
                 10, "the session and its bytes never showed in status.json")
        listed = wait_for(lambda: session_in_health(health), 15,
                          "the session never showed in the MQTT health")
        assert (listed["channel"], listed["kind"], listed["bytes"] > 0) == (CAM_264, "Play", True)
        assert listed["transport"] == ("udp" if transport == "udp" else "tcp-active")
        shown = subprocess.run([sys.executable, "-m", "edge", "status", "--config",
                                str(daemon.config)], capture_output=True, text=True).stdout
        assert f"媒体流 media 实时 live {CAM_264} -> {SERVER} ({listed['transport']}" in shown
        receiver.close()  # gone without a BYE
        gone = time.monotonic() + 15
        while json.loads(status.read_text()).get("media_sessions"):
            assert time.monotonic() < gone, f"{transport} session outlived its peer"
            time.sleep(0.2)
        bye = platform.request("BYE")  # we tell the platform the session is over
        assert bye.header("Call-ID") == request.header("Call-ID")
        platform.send(response_to(bye, 200, "OK"))
    health.close()
    assert "peer gone" in (Path(daemon.config).parent / "edge.log").read_text()


def session_in_health(health: Subscriber) -> dict | None:
    """The platform's media session in the newest health message that lists one."""
    for payload in reversed(health.on(f"edge/{NODE}/health")):
        document = decode_payload(payload)
        jsonschema.validate(document, HEALTH_SCHEMA)
        sessions = [s for p in document["platforms"] if p["id"] == SERVER for s in p["sessions"]]
        if sessions:
            return sessions[0]
    return None
