"""The README's first command: ``edge demo`` records its four simulated cameras."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import wait_for


def test_demo_records_all_four_simulated_cameras(tmp_path: Path, gstreamer: None) -> None:
    data = tmp_path / "demo"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "edge", "demo", "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        def recording() -> bool:
            res = subprocess.run([sys.executable, "-m", "edge", "recordings", "--config",
                                  str(data / "edge.toml"), "--json"], capture_output=True, text=True)
            if res.returncode != 0:
                return False
            channels = json.loads(res.stdout)["channels"]
            expected = {f"340200000013200000{i:02d}" for i in range(1, 5)}
            return {c["channel"] for c in channels if c["ranges"]} == expected

        wait_for(recording, 120, "the demo to record its four cameras")  # includes clip encoding
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out  # Ctrl+C is a clean stop
    assert "演示运行中" in out and "demo running" in out
