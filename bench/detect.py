"""Benchmark: detection and quality diagnosis — what the model costs, what the motion gate
saves, and the whole appliance with 16 cameras looked at.

1. Median inference (1 thread, a real vtest frame, 200 runs, the int8 model) with LiteRT
   (``ai-edge-litert``, the appliance's runtime) and with ``tflite-runtime`` (the runtime that
   works under qemu-user; numpy<2, so in its own venv under .cache) — the anchor.
2. CPU per camera, in-process, on vtest's street (people walking, 10 fps source) and on the
   quiet street (nobody in it), a tripwire down the middle of the street: frames at 5 fps
   (a sub stream) with the motion gate, looked at every time (the anchor: as before the
   calm looks) and at 5 fps only while someone nears the line; without the gate (the model
   on every whole frame); and keyframes only (one a second) with the gate. Decoding included (PyAV); anchor: the ffmpeg CLI decoding the same
   keyframes (``-skip_frame nokey``).
3. The appliance (``edge run``, web UI off) with 16 simulated cameras (640x480 10 fps,
   keyframe a second): recording only (detection and quality off) — the reference — then
   detection (keyframes only) and quality diagnosis on all 16, with vtest's busy street on
   every camera (the worst case: the model runs on every keyframe) with the fp16 model (the
   anchor) and the int8 one, and with the quiet street (the usual village night); then
   every camera with a sub stream and a tripwire (looked at 5 times a second while someone
   nears it) down the middle of the street (someone is always at it), fp16 and int8, and at
   its edge (people pass it now and then), and the quiet street with a sub stream; CPU of every process, of the
   detector process alone, PSS, and the looks a second (all cameras) and how many of them
   were for someone nearing a line.

The model: sections 1 and 2 use the appliance's default (int8); bench/detect_int8.py
compares it with the fp16 model it was made from.

Usage: ``python bench/detect.py [--seconds 30]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from bench.procstat import cpu_seconds, pss_mb, tree, window_args  # noqa: E402
from edge.config import CameraConfig, DetectConfig, TripwireConfig  # noqa: E402
from edge.detect.coco import MODEL_FILES, ObjectDetector  # noqa: E402
from edge.detect.objects import Box  # noqa: E402
from edge.detect.pipeline import CameraPipeline  # noqa: E402
from edge.quality.diagnosis import Diagnosis  # noqa: E402
from edge.quality.metrics import measure  # noqa: E402
from edge.sim.clips import read_units  # noqa: E402
from edge.sim.server import CameraServer  # noqa: E402
from tests.conftest import street_clips, write_config  # noqa: E402

TFLITE_VENV = ROOT / ".cache" / "bench-tflite-runtime"
TIMING = """
import sys, time, numpy as np
from tflite_runtime.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=1)
it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], np.load(sys.argv[2]))
times = []
for _ in range(200):
    t = time.perf_counter(); it.invoke(); times.append(time.perf_counter() - t)
print(sorted(times)[100] * 1000)
"""


def frames(clip_json: Path, keyframes_only: bool) -> list[tuple[float, bool, bytes]]:
    """(media time, keyframe, access unit) of a cached clip: one unit per frame, no
    B-frames, an IDR every ``gop`` frames from the first (edge/sim/clips.py)."""
    spec = json.loads(clip_json.read_text())["spec"]
    units = read_units(clip_json.with_suffix(".video"))
    out = [(i / spec["fps"], i % spec["gop"] == 0, unit) for i, unit in enumerate(units)]
    return [f for f in out if f[1] or not keyframes_only]


def first_picture(clip_json: Path) -> np.ndarray:
    codec = av.CodecContext.create("h264", "r")
    unit = read_units(clip_json.with_suffix(".video"))[0]
    return (list(codec.decode(av.Packet(unit))) + list(codec.decode(None)))[-1].to_ndarray(
        format="rgb24")


def inference(detector: ObjectDetector, rgb: np.ndarray) -> tuple[float, float | None]:
    import cv2

    tensor = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_AREA)[np.newaxis].astype(
        np.float32)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        detector.model.run(tensor)
        times.append(time.perf_counter() - t)
    with tempfile.NamedTemporaryFile(suffix=".npy", delete=False) as f:
        np.save(f, tensor)
    anchor = tflite_runtime_ms(Path(f.name))
    os.unlink(f.name)
    return statistics.median(times) * 1000, anchor


def tflite_runtime_ms(tensor: Path) -> float | None:
    python = TFLITE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TFLITE_VENV)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q",
                               "tflite-runtime==2.14.0", "numpy<2"], capture_output=True)
        if done.returncode:
            print("tflite-runtime did not install:", done.stderr.decode()[-300:])
            return None
    out = subprocess.run([str(python), "-c", TIMING, str(MODEL_FILES["int8"]), str(tensor)],
                         capture_output=True, text=True)
    return float(out.stdout.split()[-1]) if out.returncode == 0 else None


def pipeline_cpu(clip: Path, detector: ObjectDetector, *, keyframes: bool,
                 gate: bool, always: bool = False) -> tuple[float, int, float]:
    """CPU seconds per second of video for one camera with a tripwire down the middle of
    the street, as the detector process treats it: decode (keyframes: only those due),
    quality once a minute, detection at 5 fps while someone nears the line, else once a
    second, every 2 s while quiet (``always``: at 5 fps whatever happens, as before the
    calm looks); (cpu per video second, model runs, video seconds)."""
    cam = CameraConfig("34020000001320000001", "b", "rtsp://x/", detect=True,
                       tripwires=(TripwireConfig("中线", ((0.5, 0.95), (0.5, 0.2))),))
    pipe = CameraPipeline(cam, DetectConfig(fps=5), detector.detect, 2.0 if keyframes else 0.2)
    if not gate:
        whole = Box(0.0, 0.0, 1.0, 1.0)
        pipe.gate.update = lambda grey: whole  # type: ignore[method-assign]
    if always:
        pipe.watching = lambda t: True  # type: ignore[method-assign]
    diagnosis = Diagnosis()
    codec = av.CodecContext.create("h264", "r")
    runs0 = detector.invocations
    c0 = time.process_time()
    for t, key, unit in frames(clip, keyframes):
        if keyframes:
            if not pipe.due(t):
                continue  # not even decoded
            codec = av.CodecContext.create("h264", "r")
        pictures = list(codec.decode(av.Packet(unit))) + (list(codec.decode(None))
                                                          if keyframes else [])
        if not pictures or not pipe.due(t):
            continue
        rgb = pictures[-1].to_ndarray(format="rgb24")
        pipe.frame(rgb, t)
        if int(t) % 60 == 0 and key:
            diagnosis.sample(measure(rgb))
    seconds = len(read_units(clip.with_suffix(".video"))) / 10
    return (time.process_time() - c0) / seconds, detector.invocations - runs0, seconds


def ffmpeg_keyframes_cpu(clip: Path) -> float:
    """The ffmpeg CLI decoding the clip's keyframes only: CPU s per video second."""
    raw = clip.with_suffix(".h264")
    raw.write_bytes(b"".join(read_units(clip.with_suffix(".video"))))
    t0 = os.times()
    subprocess.run(["ffmpeg", "-v", "error", "-skip_frame", "nokey", "-i", str(raw),
                    "-f", "null", "-"], check=True)
    t1 = os.times()
    seconds = len(read_units(clip.with_suffix(".video"))) / 10
    return (t1.children_user + t1.children_system - t0.children_user - t0.children_system) \
        / seconds


@dataclass
class Run:
    cpu: float  # % of one core, every process of the appliance
    pss: float  # MB
    detector: float = 0.0  # % of one core, the detector process alone
    looks: int = 0  # frames looked at in the window, all cameras
    near_line: int = 0  # of them, because someone neared a tripwire


def detector_pid(pids: list[int]) -> int | None:
    for pid in pids:
        try:
            if b"_detect" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except FileNotFoundError:
            continue
    return None


def looks(data: Path) -> tuple[int, int]:
    try:
        cams = json.loads((data / "detect.json").read_text())["cameras"]
    except (OSError, ValueError, KeyError):
        return 0, 0
    return sum(c.get("frames", 0) for c in cams), sum(c.get("near_line", 0) for c in cams)


MIDDLE = "[[0.5, 0.95], [0.5, 0.2]]"  # down the middle of the street: always someone at it
EDGE = "[[0.08, 0.95], [0.08, 0.55]]"  # at its left edge, where people pass now and then


def appliance(clip: Path, seconds: float, detect: bool, model: str = "int8",
              sub: bool = False, line: str = MIDDLE) -> Run:
    """``edge run`` with 16 cameras showing ``clip`` (``sub``: each with a sub stream of
    the same clip and a tripwire, ``line``: looked at ``detect.fps`` = 5 while someone
    nears it)."""
    mounts = {f"/c{i}": clip for i in range(16)} | {f"/s{i}": clip for i in range(16 if sub else 0)}
    with tempfile.TemporaryDirectory() as tmp, CameraServer(mounts) as server:
        work = Path(tmp)
        cams = [(f"340200000013200000{i + 1:02d}", server.url(f"/c{i}")) for i in range(16)]
        extra = "[web]\nenabled = false\n" + (f'[detect]\nmodel = "{model}"\n' if detect else
                                               "[detect]\nenabled = false\n"
                                               "[quality]\nenabled = false\n")
        config = write_config(work / "edge.toml", work / "data", cams, extra=extra,
                              camera_extra="detect = true" if detect else "")
        if sub:  # each camera's sub stream, after its url line
            text = config.read_text()
            for i in range(16):
                text = text.replace(f'url = "{server.url(f"/c{i}")}"\ndetect = true\n',
                                    f'url = "{server.url(f"/c{i}")}"\n'
                                    f'sub_url = "{server.url(f"/s{i}")}"\ndetect = true\n'
                                    '[[cameras.tripwires]]\nname = "中线"\n'
                                    f'line = {line}\n')
            config.write_text(text)
        daemon = subprocess.Popen([sys.executable, "-m", "edge", "--log-level", "WARNING",
                                   "run", "--config", str(config)], cwd=ROOT)
        try:
            time.sleep(20)  # every camera connected, the detector warm
            pids = tree(daemon.pid)
            detector = detector_pid(pids)
            c0, d0, l0 = cpu_seconds(pids), cpu_seconds([detector] if detector else []), \
                looks(work / "data")
            time.sleep(seconds)
            l1 = looks(work / "data")
            return Run((cpu_seconds(pids) - c0) / seconds * 100, pss_mb(tree(daemon.pid)),
                       (cpu_seconds([detector] if detector else []) - d0) / seconds * 100,
                       l1[0] - l0[0], l1[1] - l0[1])
        finally:
            daemon.terminate()
            daemon.wait(30)


def main() -> None:
    args = window_args(__doc__)
    clips = street_clips()
    detector = ObjectDetector(0.5, 1)
    litert, anchor = inference(detector, first_picture(clips["street"]))
    print(f"1. inference, 1 thread, median of 200: LiteRT {litert:.1f} ms; tflite-runtime "
          + (f"{anchor:.1f} ms (anchor; ratio {litert / anchor:.2f})" if anchor else "n/a"))
    print("2. CPU per camera (% of one core), decoding included:")
    rows = [("street, 5 fps (sub stream), gate, always 5 fps (anchor)", clips["street"], False,
             True, True),
            ("street, 5 fps (sub stream), gate, 5 fps near the line", clips["street"], False,
             True, False),
            ("street, 5 fps, no gate (model on every frame)", clips["street"], False, False,
             True),
            ("quiet street, 5 fps, motion gate", clips["empty"], False, True, False),
            ("quiet street, 5 fps, no gate", clips["empty"], False, False, True),
            ("street, keyframes only (1/s), motion gate", clips["street"], True, True, False),
            ("quiet street, keyframes only, motion gate", clips["empty"], True, True, False)]
    for label, clip, keyframes, gate, always in rows:
        cpu, runs, secs = pipeline_cpu(clip, detector, keyframes=keyframes, gate=gate,
                                       always=always)
        print(f"   {label:56s}: {cpu * 100:6.2f} %  ({runs} model runs in {secs:.0f} s)")
    anchor_kf = ffmpeg_keyframes_cpu(clips["street"])
    print(f"   anchor: ffmpeg CLI decoding the same keyframes: {anchor_kf * 100:.2f} %")
    print(f"3. appliance, 16 cameras 640x480 10 fps, {args.seconds:.0f}-s window:")
    ref = appliance(clips["street"], args.seconds, detect=False)
    print(f"   recording only (reference)                       : {ref.cpu:5.1f} % CPU, "
          f"{ref.pss:4.0f} MB PSS")
    for label, clip, model, sub, line in (
            ("16 busy streets, keyframes, fp16 (anchor)", clips["street"], "fp16", False, MIDDLE),
            ("16 busy streets, keyframes, int8", clips["street"], "int8", False, MIDDLE),
            ("16 quiet streets, keyframes, int8", clips["empty"], "int8", False, MIDDLE),
            ("16 busy streets, sub + line in the middle, fp16", clips["street"], "fp16", True,
             MIDDLE),
            ("16 busy streets, sub + line in the middle, int8", clips["street"], "int8", True,
             MIDDLE),
            ("16 busy streets, sub + line at the edge, int8", clips["street"], "int8", True,
             EDGE),
            ("16 quiet streets, sub + line in the middle, int8", clips["empty"], "int8", True,
             MIDDLE)):
        run = appliance(clip, args.seconds, detect=True, model=model, sub=sub, line=line)
        print(f"   + detection + quality, {label:48s}: {run.cpu:5.1f} % CPU (detector "
              f"{run.detector:5.1f} %), {run.pss:4.0f} MB PSS (ratio {run.cpu / ref.cpu:.2f}, "
              f"+{run.pss - ref.pss:.0f} MB); {run.looks / args.seconds:.1f} looks/s, "
              f"{run.near_line / args.seconds:.1f} of them near a line")


if __name__ == "__main__":
    main()
