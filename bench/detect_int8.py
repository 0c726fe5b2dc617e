"""Benchmark: the int8-quantised COCO model against the fp16 one it was made from (the
anchor, in the same run) — what it gains in inference time and what it loses in
detections.

Pictures: the second half of vtest.avi (every 4th frame; the int8 model was calibrated on
the first half only, tools/build_coco_ssd.py) and the test pictures in tests/data. Both
models through the appliance's own ObjectDetector (min score 0.4, our labels). The fp16
model's detections are the reference: a detection of the int8 model matches one of the
same label with IoU >= 0.5. Speed: the median of 200 inferences on one thread, the two
models interleaved in blocks of 20 (a busy machine slows both alike).

Usage: ``python bench/detect_int8.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.detect.coco import MODEL, MODEL_FILES, ObjectDetector  # noqa: E402
from edge.detect.objects import Detection  # noqa: E402
from edge.sim.scenes import vtest_avi  # noqa: E402

INT8 = MODEL_FILES["int8"]


def pictures() -> list[tuple[str, np.ndarray]]:
    capture = cv2.VideoCapture(str(vtest_avi(ROOT / ".cache" / "media")))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    out = []
    for i in range(total):
        ok, bgr = capture.read()
        if not ok:
            break
        if i >= total // 2 and i % 4 == 0:
            out.append((f"vtest#{i}", bgr[:, :, ::-1].copy()))
    for path in sorted((ROOT / "tests" / "data").glob("*.jpg")):
        out.append((path.name, cv2.imread(str(path))[:, :, ::-1].copy()))
    return out


def match(ref: list[Detection], got: list[Detection]) -> list[tuple[Detection, Detection]]:
    pairs, free = [], list(got)
    for r in ref:  # best first
        best = max((g for g in free if g.label == r.label), key=lambda g: r.box.iou(g.box),
                   default=None)
        if best is not None and r.box.iou(best.box) >= 0.5:
            pairs.append((r, best))
            free.remove(best)
    return pairs


def speed(fp16: ObjectDetector, int8: ObjectDetector, rgb: np.ndarray) -> tuple[float, float]:
    tensor = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_AREA)[np.newaxis].astype(
        np.float32)
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(10):
        for k, detector in enumerate((fp16, int8)):
            for _ in range(20):
                t = time.perf_counter()
                detector.model.run(tensor)
                times[k].append(time.perf_counter() - t)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def main() -> None:
    fp16, int8 = ObjectDetector(model=MODEL), ObjectDetector(model=INT8)
    shots = pictures()
    per_label: dict[str, list[int]] = {}  # label -> [fp16, int8, matched]
    ious, score_diffs = [], []
    for _, rgb in shots:
        ref, got = fp16.detect(rgb), int8.detect(rgb)
        pairs = match(ref, got)
        for d in ref:
            per_label.setdefault(d.label, [0, 0, 0])[0] += 1
        for d in got:
            per_label.setdefault(d.label, [0, 0, 0])[1] += 1
        for r, g in pairs:
            per_label[r.label][2] += 1
            ious.append(r.box.iou(g.box))
            score_diffs.append(g.score - r.score)
    ms16, ms8 = speed(fp16, int8, shots[len(shots) // 2][1])
    print(f"pictures: {len(shots)} ({len(shots) - len(list((ROOT / 'tests' / 'data').glob('*.jpg')))}"
          " vtest frames unseen by the calibration, and the test pictures)")
    print(f"model size: fp16 {MODEL.stat().st_size / 1e6:.1f} MB, int8 {INT8.stat().st_size / 1e6:.1f} MB")
    print(f"inference, 1 thread, median: fp16 {ms16:.1f} ms (anchor), int8 {ms8:.1f} ms, "
          f"ratio {ms8 / ms16:.2f}")
    print("label        fp16  int8  matched  kept of fp16  extra")
    total = [0, 0, 0]
    for label, (a, b, m) in sorted(per_label.items()):
        total = [total[0] + a, total[1] + b, total[2] + m]
        print(f"{label:<12} {a:>4}  {b:>4}  {m:>7}  {m / a if a else 0:>11.1%}  {b - m:>5}")
    a, b, m = total
    print(f"{'all':<12} {a:>4}  {b:>4}  {m:>7}  {m / a if a else 0:>11.1%}  {b - m:>5}")
    print(f"matched boxes: mean IoU {statistics.mean(ious):.3f}, score int8 - fp16 "
          f"{statistics.mean(score_diffs):+.3f} (mean), "
          f"{statistics.mean(abs(d) for d in score_diffs):.3f} (mean |.|)")


if __name__ == "__main__":
    main()
