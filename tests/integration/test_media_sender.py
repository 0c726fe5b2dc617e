"""A live session's UDP socket: with GSO (one sendmsg per frame, the kernel cuts the
datagrams) and without it, the platform receives exactly the RTP packets the pure
packetiser makes, in order, one datagram each."""

from __future__ import annotations

import socket

import pytest

from edge.gb28181.media.live import Sender
from edge.gb28181.media.rtp import Packetizer
from edge.sim.server import free_port
from tests.conftest import wait_for

SSRC = 200000001
FRAMES = [bytes([n]) * size for n, size in enumerate([100, 1400, 1401, 60_000, 200_000])]


@pytest.mark.parametrize("gso", [True, False])
def test_udp_datagrams_are_the_rtp_packets(gso: bool) -> None:
    platform = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    platform.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    platform.bind(("127.0.0.1", 0))
    platform.settimeout(5)
    sender = Sender("udp", "127.0.0.1", platform.getsockname()[1], free_port(), SSRC, 96)
    sender.gso = gso
    sender.connect()
    want: list[bytes] = []
    reference = Packetizer(SSRC, 96)
    try:
        for n, frame in enumerate(FRAMES):
            sender.send(frame, n * 3600)
            want += reference.packets(frame, n * 3600)
        got = [platform.recv(65_536) for _ in want]
    finally:
        sender.close()
        platform.close()
    assert got == want
    assert sender.gso == gso  # loopback takes GSO; a refusal would have switched it off
    assert sender.bytes_sent == sum(len(p) for p in want)


def test_a_platform_that_stops_reading_costs_frames_not_recording(tmp_path) -> None:
    """TCP to a platform that stops reading: pushes never block (the camera thread records
    on), the queue is bounded, and sending resumes at a keyframe once it reads again."""
    import struct
    import threading

    from edge.gb28181.media.live import GbMedia, LiveSession
    from edge.gb28181.media.rtp import TcpDeframer, parse_rtp
    from edge.ingest.media import Frame, StreamInfo
    from edge.stream.frames import QUEUE_FRAMES
    from edge.stream.hub import StreamHub

    platform = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    platform.bind(("127.0.0.1", 0))
    platform.listen(1)
    events: list[dict] = []
    sender = Sender("tcp-active", "127.0.0.1", platform.getsockname()[1], free_port(), SSRC, 96)
    session = LiveSession("s1", "cam", 0, sender, GbMedia(StreamHub(), events.append, tmp_path))
    session.info = StreamInfo("h264", None, b"")
    session.start([])
    conn, _ = platform.accept()
    frames, every = 2000, 50  # a keyframe every 50 frames; 2000 x 20 KB outgrows any buffer
    for n in range(frames):  # as the camera thread offers them: never blocking
        session.offer(Frame(True, n % every == 0, struct.pack(">I", n) * 5000,
                            (n * 3600 + 1) / 90_000))
    assert session.skipped > 0 and session.queue.qsize() <= QUEUE_FRAMES
    received = bytearray()
    reader = threading.Thread(target=lambda: _read_all(conn, received))
    reader.start()
    wait_for(lambda: session.queue.qsize() == 0, 20, "the queue drained")
    session.offer(Frame(True, True, struct.pack(">I", frames) * 5000,
                            (frames * 3600 + 1) / 90_000))  # reading again
    reader.join(30)
    session.stop()
    platform.close()
    stamps = sorted({parse_rtp(p).timestamp for p in TcpDeframer().feed(bytes(received))})
    sent = [ts // 3600 for ts in stamps]
    resumed = [b for a, b in zip(sent, sent[1:]) if b != a + 1]  # first frames after a gap
    assert resumed and all(n % every == 0 for n in resumed), resumed
    assert sent[-1] == frames
    assert [e["media"]["event"] for e in events] == ["playing"]  # nothing ended the session


def _read_all(conn: socket.socket, into: bytearray) -> None:
    conn.settimeout(2)
    try:
        while data := conn.recv(1 << 16):
            into += data
    except TimeoutError:
        pass
    conn.close()
