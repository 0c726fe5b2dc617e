"""Broadcast latency on the box's side: from the platform's first RTP packet (G.711A,
20 ms each, at real time over UDP) to its decoded samples handed on, for edge's receiver
(edge/gb28181/media/audioreceiver.py: depacketise, decode, volume, written to the
speaker's ALSA PCM) and for the ffmpeg CLI receiving the same stream from an SDP (no
probing, no buffering) and writing raw PCM to a pipe.

    .venv/bin/python bench/broadcast.py [--runs 10]

edge: the receiver's own measure, the first packet's arrival to the return of its ALSA
write (alsa-lib's ``file`` plugin over ``null``: no sound card here). ffmpeg: the first
packet sent to the first byte on its stdout. What the card then adds is the same for both
(playback starts at the first frame: alsa-lib's default start threshold). Printed: the
median, min and max over the runs, and the ratio of the medians. The issue's target:
<= 300 ms.

CPU per broadcast: one broadcast of ``--cpu-seconds`` each. edge: this process's CPU time
during it minus the sender's own (measured alone, sending to a port nobody reads); ffmpeg:
its CPU time (user + system, from wait4). Printed as % of one core, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import SpeakerConfig  # noqa: E402
from edge.gb28181.media.audioreceiver import AudioReceiver  # noqa: E402
from edge.gb28181.media.rtp import Packetizer  # noqa: E402
from edge.voice.speaker import Speaker  # noqa: E402
from tests.unit.gb28181.test_broadcast import _tone  # noqa: E402

PACKET_S = 0.02
SECONDS = 0.5


def send(port: int, first: list[float], seconds: float = SECONDS) -> None:
    """G.711A at real time to ``port``; the monotonic time of the first packet in
    ``first``."""
    tone = _tone(seconds, 1000.0)
    rtp = Packetizer(ssrc=100000001, payload_type=8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        start = time.monotonic()
        for n, i in enumerate(range(0, len(tone), 160)):
            wait = start + n * PACKET_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not first:
                first.append(time.monotonic())
            out.sendto(rtp.packets(tone[i:i + 160], i)[0], ("127.0.0.1", port))


def edge_run(seconds: float = SECONDS) -> tuple[float, float]:
    """The latency (ms) and this process's CPU time (s) of one broadcast."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    speaker = Speaker(SpeakerConfig("34020000001370000001", "bench", "edgetest"))
    claim = speaker.claim("bench", 3)
    assert claim is not None
    ended = threading.Event()
    receiver = AudioReceiver("bench", speaker, claim, lambda *_: ended.set(), udp=udp)
    cpu = time.process_time()
    receiver.start()
    send(port, [], seconds)
    receiver.stop("bench done")
    ended.wait(10)
    cpu = time.process_time() - cpu
    if receiver.latency_ms is None:
        raise RuntimeError("edge played nothing")
    return receiver.latency_ms, cpu


def sender_cpu(seconds: float) -> float:
    """The sender's own CPU time, sending to a port nobody reads."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nobody:
        nobody.bind(("127.0.0.1", 0))
        cpu = time.process_time()
        send(nobody.getsockname()[1], [], seconds)
        return time.process_time() - cpu


def ffmpeg_run(folder: Path, seconds: float = SECONDS) -> tuple[float, float]:
    """The latency (ms) and ffmpeg's CPU time (s) of one broadcast."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sdp = folder / "in.sdp"
    sdp.write_text("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\n"
                   f"t=0 0\r\nm=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")
    proc = subprocess.Popen(
        ["ffmpeg", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
         "-fflags", "nobuffer", "-flags", "low_delay", "-probesize", "32",
         "-analyzeduration", "0", "-i", str(sdp), "-f", "s16le", "-flush_packets", "1",
         "pipe:1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    time.sleep(1.0)  # listening
    first: list[float] = []
    sender = threading.Thread(target=send, args=(port, first, seconds))
    sender.start()
    os.read(proc.stdout.fileno(), 1)
    heard = time.monotonic()
    while sender.is_alive():  # keep the pipe drained
        os.read(proc.stdout.fileno(), 65_536)
    sender.join()
    proc.stdout.close()
    proc.kill()
    _, _, usage = os.wait4(proc.pid, 0)
    return (heard - first[0]) * 1000, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--cpu-seconds", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        conf = folder / "asoundrc"
        conf.write_text(f'pcm.edgetest {{\n type file\n slave.pcm "null"\n'
                        f' file "{folder / "played.raw"}"\n format "raw"\n}}\n')
        os.environ["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{conf}"
        results = {"edge": [edge_run()[0] for _ in range(args.runs)],
                   "ffmpeg": [ffmpeg_run(folder)[0] for _ in range(args.runs)]}
        seconds = args.cpu_seconds
        cpu = {"edge": (edge_run(seconds)[1] - sender_cpu(seconds)) / seconds * 100,
               "ffmpeg": ffmpeg_run(folder, seconds)[1] / seconds * 100}
    for name, values in results.items():
        print(f"{name:7s} first packet -> its samples: median {statistics.median(values):6.1f} "
              f"ms (min {min(values):.1f}, max {max(values):.1f}, {len(values)} runs)")
    ratio = statistics.median(results["edge"]) / statistics.median(results["ffmpeg"])
    print(f"ratio edge/ffmpeg (medians): {ratio:.2f}")
    for name, percent in cpu.items():
        print(f"{name:7s} CPU for one broadcast of {seconds:.0f} s: {percent:.2f} % of a core")
    print(f"ratio edge/ffmpeg (CPU): {cpu['edge'] / cpu['ffmpeg']:.2f}")


if __name__ == "__main__":
    main()
