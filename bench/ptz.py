"""PTZ command to SOAP call: how long after a command is handed to the box's steering the
camera receives its ContinuousMove, against the same call made with the ONVIF library alone.

    .venv/bin/python bench/ptz.py [--moves 200]

The camera is the tests' real ONVIF camera (IPyCam, tests/integration/onvif_camera.py),
which stamps each SOAP action with the wall clock as it handles it. Both paths keep one
connection open (a dome's worker keeps its client). Printed: median and 95th percentile
latency for edge and for the anchor, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import parse  # noqa: E402
from edge.onvif.device import client  # noqa: E402
from edge.ptz.ops import Move  # noqa: E402
from edge.ptz.steering import Steering, targets  # noqa: E402
from tests.integration.test_ptz import CAMERA_PASSWORD, DOME, USER, OnvifCamera  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        camera = OnvifCamera(Path(work))
        try:
            cfg = parse({"node": {"id": "34020000001180000001"}, "cameras": [
                {"id": DOME, "name": "d", "url": "rtsp://127.0.0.1/x", "onvif": camera.address,
                 "onvif_user": USER, "onvif_password": CAMERA_PASSWORD}]})
            steering = Steering(targets(cfg))
            edge: list[float] = []
            for i in range(args.moves + 5):
                before = len(camera.calls)
                sent = time.time()
                steering.submit(DOME, Move(pan=0.5 if i % 2 else -0.5), "bench", hold_s=30)
                got = camera.wait("ContinuousMove", before)["t"]
                if i >= 5:  # the first ones connect and read the profiles
                    edge.append((got - sent) * 1000)
            steering.close(wait_s=10)
            anchor: list[float] = []
            with client(f"{camera.address}/onvif/device_service", USER, CAMERA_PASSWORD) as cam:
                token = cam.get_profiles()[0]["token"]
                for i in range(args.moves):
                    before = len(camera.calls)
                    sent = time.time()
                    cam.ptz_continuous_move(profile_token=token, pan=0.5, tilt=0.0, zoom=None)
                    anchor.append((camera.wait("ContinuousMove", before)["t"] - sent) * 1000)
        finally:
            camera.close()
    for name, values in (("edge (steering)", edge), ("anchor (onveef alone)", anchor)):
        print(f"{name:24s} median {statistics.median(values):6.2f} ms  "
              f"p95 {percentile(values, 0.95):6.2f} ms  (n={len(values)})")
    print(f"ratio edge/anchor: median {statistics.median(edge) / statistics.median(anchor):.2f}")


if __name__ == "__main__":
    main()
