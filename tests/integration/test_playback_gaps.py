"""Playback skips holes in the footage instead of padding them: two recorded pieces a
minute apart play back to back, their frame counters contiguous, the media time without
the hole. Real files (made by the ffmpeg CLI from an encoded clip), a real index, the
real playback session sending RTP over UDP to a local socket."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import av

from edge.gb28181.media.live import Sender
from edge.gb28181.media.playback import PlaybackSession
from edge.gb28181.media.psdemux import PsDemuxer
from edge.gb28181.media.rtp import parse_rtp
from edge.record.index import Index
from edge.sim.clips import read_counter, read_units
from edge.sim.server import free_port

CH = "34020000001320000001"
T0 = 1_795_305_600.0


def piece(units: list[bytes], path: Path) -> None:
    raw = path.with_suffix(".h264")
    raw.write_bytes(b"".join(units))
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "h264", "-r", "25", "-i",
                    str(raw), "-c", "copy", "-y", str(path)], check=True)


def test_a_minute_long_hole_is_skipped(tmp_path: Path, clips: dict[str, Path]) -> None:
    units = read_units(clips["h264"].with_suffix(".video"))[:200]
    index = Index(tmp_path)
    for n, (start, chunk) in enumerate([(T0, units[:100]), (T0 + 64, units[100:])]):
        path = tmp_path / "recordings" / f"{n}.mp4"
        path.parent.mkdir(exist_ok=True)
        piece(chunk, path)
        seg = index.add_segment(CH, start, path, video_codec="h264", audio_codec=None,
                                width=640, height=360)
        index.update_segment(seg, start + 4, path.stat().st_size, True)
    index.close()

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.5)
    events: list[dict] = []
    finished = threading.Event()

    def emit(obj: dict) -> None:
        events.append(obj["media"])
        if obj["media"]["event"] in ("finished", "ended"):
            finished.set()

    sender = Sender("udp", "127.0.0.1", sink.getsockname()[1], free_port(), 1200000001, 96)
    session = PlaybackSession("s1", CH, sender, tmp_path, "Download", T0 - 1, T0 + 70, 8, emit)
    started = time.monotonic()
    session.start([])
    packets = []
    while time.monotonic() - started < 60:  # until it is finished and the socket is drained
        try:
            packets.append(sink.recv(65536))
        except (TimeoutError, socket.timeout):
            if finished.is_set():
                break
    took = time.monotonic() - started
    session.stop()
    sink.close()
    assert [e["event"] for e in events] == ["playing", "finished"]
    rtp = [parse_rtp(p) for p in packets]
    stamps = sorted({r.timestamp for r in rtp})
    assert (stamps[-1] - stamps[0]) / 90_000 < 9  # 8 s of footage, not 68 s of time
    ps = b"".join(r.payload for r in rtp)
    assert len(PsDemuxer().parse(ps)) >= 200
    path = tmp_path / "out.ps"
    path.write_bytes(ps)
    with av.open(str(path), format="mpeg") as container:
        counters = [read_counter(f.to_ndarray(format="gray")) for f in container.decode(video=0)]
    assert counters == list(range(200))  # back to back across the hole
    assert took < 30  # the hole was not waited out (8 s at speed 8 is about 1 s)
