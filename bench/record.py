"""Benchmark: recording N simulated cameras with edge vs the ffmpeg CLI.

The same cameras (one GStreamer RTSP server, 720p25 H.264 at 2 Mbit/s, 2-s GOP) are
recorded by ``edge run`` and by N ``ffmpeg -c copy -f segment -segment_time 60``
processes, one after the other. For each we measure CPU seconds (user + system, all
processes of the recorder, read from /proc) over the measuring window and PSS
(/proc/PID/smaps_rollup). Prints CPU-seconds per stream-minute, the ratio
edge/ffmpeg, and PSS. Usage: ``python bench/record.py [--seconds 60] [--counts 1,4,16]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.sim.clips import ClipSpec, ensure_clip  # noqa: E402
from edge.sim.server import CameraServer  # noqa: E402
from bench.procstat import cpu_seconds, pss_mb, tree  # noqa: E402

CLIP = ClipSpec("bench-720p", width=1280, height=720, seconds=10, gop=50, bitrate=2_000_000)
WARMUP_S = 8.0


def measure(roots: list[int], seconds: float, out_dirs: list[Path]) -> tuple[float, float, int]:
    """(CPU seconds, PSS MB, how many streams wrote output during the window)."""
    time.sleep(WARMUP_S)
    pids = [p for r in roots for p in tree(r)]
    before, sizes = cpu_seconds(pids), [dir_bytes(d) for d in out_dirs]
    time.sleep(seconds)
    pids = [p for r in roots for p in tree(r)]
    cpu, pss = cpu_seconds(pids) - before, pss_mb(pids)
    grew = sum(dir_bytes(d) > b for d, b in zip(out_dirs, sizes))
    return cpu, pss, grew


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_edge(urls: list[str], work: Path, seconds: float) -> tuple[float, float, int]:
    data = work / "edge"
    lines = ["[node]", 'id = "34020000001180000001"', f'data_dir = "{data}"', "[storage]",
             "min_free_gb = 0.5", ""]
    for i, url in enumerate(urls):
        lines += ["[[cameras]]", f'id = "340200000013200{i + 1:05d}"', f'name = "bench {i}"',
                  f'url = "{url}"', ""]
    config = work / "edge.toml"
    config.write_text("\n".join(lines))
    proc = subprocess.Popen([sys.executable, "-m", "edge", "--log-level", "WARNING", "run",
                             "--config", str(config)], cwd=ROOT)
    channels = [data / "recordings" / f"340200000013200{i + 1:05d}" for i in range(len(urls))]
    for channel in channels:
        channel.mkdir(parents=True, exist_ok=True)
    try:
        return measure([proc.pid], seconds, channels)
    finally:
        proc.terminate()
        proc.wait(30)


def run_ffmpeg(urls: list[str], work: Path, seconds: float) -> tuple[float, float, int]:
    procs, outs = [], []
    for i, url in enumerate(urls):
        out = work / f"ff{i}"
        out.mkdir()
        outs.append(out)
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
             "-c", "copy", "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1",
             str(out / "%05d.mp4")]))
    try:
        return measure([p.pid for p in procs], seconds, outs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--counts", default="1,4,16")
    args = ap.parse_args()
    meta = ensure_clip(CLIP, ROOT / ".cache" / "clips")
    counts = [int(c) for c in args.counts.split(",")]
    print(f"# edge record benchmark {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
          f"({platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}), "
          f"{args.seconds:.0f} s window, 720p25 H.264 2 Mbit/s, ffmpeg {ffmpeg_version()}")
    print("cameras | edge CPU-s/stream-min | ffmpeg CPU-s/stream-min | ratio edge/ffmpeg | "
          "edge PSS MB | ffmpeg PSS MB | streams writing edge/ffmpeg")
    with CameraServer({f"/c{i}": meta for i in range(max(counts))}) as server:
        for n in counts:
            urls = [server.url(f"/c{i}") for i in range(n)]
            with tempfile.TemporaryDirectory() as tmp:
                e_cpu, e_pss, e_ok = run_edge(urls, Path(tmp), args.seconds)
            with tempfile.TemporaryDirectory() as tmp:
                f_cpu, f_pss, f_ok = run_ffmpeg(urls, Path(tmp), args.seconds)
            # per stream that really wrote: a recorder that never started costs nothing
            e = e_cpu / (max(e_ok, 1) * args.seconds / 60)
            f = f_cpu / (max(f_ok, 1) * args.seconds / 60)
            print(f"{n:7d} | {e:21.3f} | {f:23.3f} | {e / f:17.2f} | {e_pss:11.0f} | "
                  f"{f_pss:13.0f} | {e_ok}/{f_ok}", flush=True)


def ffmpeg_version() -> str:
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg CLI not found: apt-get install ffmpeg")
    return subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split()[2]


if __name__ == "__main__":
    main()
