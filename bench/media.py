"""Benchmark: GB/T 28181 media — PS+RTP packetising, INVITE to first packet, CPU of
16 live + 2 playback sessions.

1. Packetising: a real 720p25 H.264 clip (2 Mbit/s, the record benchmark's) muxed into PS
   and cut into RTP packets by our pure code on one core: input Mbit/s per CPU-second.
   Anchor: the ffmpeg CLI muxing the same Annex-B stream into MPEG-PS (`-c copy -f mpeg`).
2. INVITE -> first RTP packet: `edge run` with one simulated camera and a scripted upper
   platform on loopback, median of 5 live INVITEs over UDP.
3. 16 cameras recorded by `edge run`; the recorder process's CPU over a window, first
   recording only (the reference), then with 16 live sessions (one per camera, UDP to
   local receivers) and 2 playback sessions. Printed: % of one core for both, the delta.

Usage: ``python bench/media.py [--seconds 30]``.
"""

from __future__ import annotations

import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import cpu_seconds, window_args  # noqa: E402
from bench.record import CLIP  # noqa: E402
from edge.gb28181.media.ps import Streams, video_frame  # noqa: E402
from edge.gb28181.media.rtp import Packetizer  # noqa: E402
from edge.sim.clips import ensure_clip, read_units  # noqa: E402
from edge.sim.server import CameraServer, free_port  # noqa: E402
from tests.integration.scripted_platform import (  # noqa: E402
    PASSWORD, SERVER, ScriptedPlatform, final_response, in_dialog, invite, offer, register,
)
from tests.integration.test_media_live import invite_when_online  # noqa: E402


def bench_packetising(units: list[bytes], work: Path) -> None:
    streams = Streams("h264")
    rtp = Packetizer(ssrc=200000001)
    loops, size = 20, sum(len(u) for u in units)
    t0 = time.process_time()
    packets = 0
    for loop in range(loops):
        for i, unit in enumerate(units):
            ps = video_frame(streams, unit, (loop * len(units) + i) * 3600, None, i % 50 == 0)
            packets += len(rtp.packets(ps, i * 3600))
    cpu = time.process_time() - t0
    edge_mbps = size * loops * 8 / cpu / 1e6
    raw = work / "clip.h264"
    raw.write_bytes(b"".join(units) * loops)
    before = _children_cpu()
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "h264", "-r", "25", "-i",
                    str(raw), "-c", "copy", "-f", "mpeg", "-y", str(work / "out.mpg")], check=True)
    ff_cpu = _children_cpu() - before
    ff_mbps = size * loops * 8 / ff_cpu / 1e6
    print(f"PS+RTP packetising, {len(units) * loops} frames of 720p H.264 ({packets} RTP packets):")
    print(f"  edge (pure Python, one core) : {edge_mbps:8.0f} Mbit/s of input per CPU-s")
    print(f"  ffmpeg -c copy -f mpeg (C)   : {ff_mbps:8.0f} Mbit/s (PS only, no RTP)")
    print(f"  ratio edge/ffmpeg            : {edge_mbps / ff_mbps:.2f}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def node_config(work: Path, urls: list[str], sip_platform: ScriptedPlatform) -> Path:
    lines = ["[node]", 'id = "34020000001180000001"', f'data_dir = "{work / "data"}"',
             f"sip_port = {free_port()}", "", "[media]", "max_sessions = 32", ""]
    for i, url in enumerate(urls, 1):
        lines += ["[[cameras]]", f'id = "340200000013200000{i:02d}"', f'name = "c{i}"',
                  f'url = "{url}"', ""]
    lines += ["[[platforms]]", f'id = "{SERVER}"', 'host = "127.0.0.1"',
              f"port = {sip_platform.port}", f'password = "{PASSWORD}"']
    path = work / "edge.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Sink:
    """A platform's RTP port that only counts what arrives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.first: float | None = None
        self.bytes = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if self.first is None:
                self.first = time.monotonic()
            self.bytes += len(data)


def bench_sessions(server: CameraServer, work: Path, seconds: float) -> None:
    sip = ScriptedPlatform("udp")
    urls = [server.url(f"/c{i}") for i in range(16)]
    daemon = subprocess.Popen([sys.executable, "-m", "edge", "--log-level", "WARNING", "run",
                               "--config", str(node_config(work, urls, sip))], cwd=ROOT)
    try:
        register(sip)
        time.sleep(10)  # every camera connected and recording
        recorder = int(subprocess.run(["pgrep", "-P", str(daemon.pid)], capture_output=True,
                                      text=True).stdout.split()[0])
        # INVITE -> first packet, live, median of 5 (on camera 1, closed each time)
        delays = []
        for n in range(5):
            sink = Sink()
            request, ok, _, sent = invite_when_online(sip, "34020000001320000001",
                                                      offer("udp", sink.port), f"first-{n}")
            sip.send(in_dialog("ACK", request, ok, 1))
            while sink.first is None:
                time.sleep(0.001)
            delays.append((sink.first - sent) * 1000)
            sip.send(in_dialog("BYE", request, ok, 2))
            final_response(sip, request.header("Call-ID") or "")
            sink.sock.close()
        print(f"INVITE -> first RTP packet (live, UDP, loopback): median {statistics.median(delays):.0f} ms "
              f"(min {min(delays):.0f}, max {max(delays):.0f})")
        c0 = cpu_seconds([recorder])
        time.sleep(seconds)
        base = (cpu_seconds([recorder]) - c0) / seconds * 100
        sinks = []
        for i in range(1, 17):
            sink = Sink()
            request, ok, _, _ = invite_when_online(sip, f"340200000013200000{i:02d}",
                                                   offer("udp", sink.port), f"live-{i}")
            sip.send(in_dialog("ACK", request, ok, 1))
            sinks.append(sink)
        now = int(time.time())
        for i in (1, 2):
            sink = Sink()
            body = offer("udp", sink.port, "Playback").decode().replace(
                "t=0 0", f"t={now - int(seconds) - 8} {now - 1}")  # outlasts the window
            request = invite(sip, f"340200000013200000{i:02d}", body.encode(), f"pb-{i}")
            sip.send(request)
            ok, _ = final_response(sip, f"pb-{i}")
            sip.send(in_dialog("ACK", request, ok, 1))
            sinks.append(sink)
        time.sleep(2)
        c0 = cpu_seconds([recorder])
        b0 = sum(s.bytes for s in sinks)
        time.sleep(seconds)
        loaded = (cpu_seconds([recorder]) - c0) / seconds * 100
        mbps = (sum(s.bytes for s in sinks) - b0) * 8 / seconds / 1e6
        print(f"Recorder process CPU, 16 cameras 720p25 2 Mbit/s, {seconds:.0f}-s windows:")
        print(f"  recording only (reference)      : {base:5.1f} % of one core")
        print(f"  + 16 live + 2 playback sessions : {loaded:5.1f} % ({mbps:.1f} Mbit/s of RTP out)")
        print(f"  media sessions cost             : {loaded - base:5.1f} % of one core "
              f"(ratio to recording {(loaded - base) / base:.2f})")
    finally:
        daemon.terminate()
        daemon.wait(30)
        sip.close()


def main() -> None:
    args = window_args(__doc__)
    meta = ensure_clip(CLIP, ROOT / ".cache" / "clips")
    units = read_units(meta.with_suffix(".video"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_packetising(units, work)
        with CameraServer({f"/c{i}": meta for i in range(16)}) as server:
            bench_sessions(server, work, args.seconds)


if __name__ == "__main__":
    main()
