"""The README's first command: ``edge demo`` records its five simulated cameras and, on the
fifth (a real street), detects the people walking by; its loudspeaker is ready."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge.record.index import Index
from edge.sim.demo import DEMO_SPEAKER
from edge.voice.client import ask
from edge.sim.scenes import vtest_avi
from tests.conftest import MEDIA_CACHE, wait_for


def test_demo_records_every_camera_and_detects_people(tmp_path: Path, gstreamer: None) -> None:
    data = tmp_path / "demo"
    cache = tmp_path / "cache"
    (cache / "edge" / "clips").mkdir(parents=True)
    # the street scene as `make demo` fetches it (Debian's opencv-doc), fetched once per run
    shutil.copy(vtest_avi(MEDIA_CACHE), cache / "edge" / "clips" / "vtest.avi")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    since = 0.0

    def recording() -> bool:
        """Every camera recorded something after ``since``."""
        res = subprocess.run([sys.executable, "-m", "edge", "recordings", "--config",
                              str(data / "edge.toml"), "--json"], capture_output=True, text=True)
        if res.returncode != 0:
            return False
        channels = json.loads(res.stdout)["channels"]
        expected = {f"340200000013200000{i:02d}" for i in range(1, 6)}
        return {c["channel"] for c in channels
                if c["ranges"] and c["ranges"][-1][1] > since + 2} == expected

    proc = subprocess.Popen([sys.executable, "-m", "edge", "demo", "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        wait_for(recording, 180, "the demo to record its five cameras")  # includes encoding

        def people() -> int:
            index = Index(data, readonly=True)
            try:
                return sum(e.data.get("label") == "person" for e in index.events(
                    0, time.time() + 60, ["34020000001320000005"], ["detection"]))
            finally:
                index.close()

        wait_for(people, 60, "person events on the street camera")
        # its loudspeaker is the voice service's, idle
        status = ask(data, {"action": "status"})
        assert [(s["id"], s["busy_with"]) for s in status["speakers"]] == \
            [(DEMO_SPEAKER, None)], status
        # settings saved in the web UI (and a restart from the System page, MQTT
        # reload-config) reload the demo: it starts itself again and goes on recording
        since = time.time()
        proc.send_signal(signal.SIGHUP)
        wait_for(recording, 90, "the reloaded demo to record its five cameras")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out  # Ctrl+C is a clean stop
    assert "演示运行中" in out and "demo running" in out
    assert "重新加载配置" in out and out.count("演示运行中") == 2, out
    # run again on the same data dir: its settings kept, its cameras found on their new port
    since = time.time()
    again = subprocess.Popen([sys.executable, "-m", "edge", "demo", "--data-dir", str(data)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        wait_for(recording, 60, "the demo run again to record its five cameras")
    finally:
        again.send_signal(signal.SIGINT)
        out, _ = again.communicate(timeout=30)
    assert again.returncode == 0, out
