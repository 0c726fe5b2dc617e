"""A simulated RTSP camera on the host for build-image.sh's smoke test: prints its URL,
serves until stdin closes (the build script holds it open while it needs the camera).

    .venv/bin/python tools/smoke_camera.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.sim.clips import ClipSpec, ensure_clip
from edge.sim.server import CameraServer

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "clips"

if __name__ == "__main__":
    clip = ensure_clip(ClipSpec("smoke-h264"), CACHE)
    server = CameraServer({"/smoke": clip}).start()
    try:
        print(server.url("/smoke"), flush=True)
        sys.stdin.read()
    finally:
        server.stop()
