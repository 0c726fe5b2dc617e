"""Start and stop simulated cameras (rtsp_camera.py under the system python3)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_camera.py")
READY_TIMEOUT_S = 15.0
DEBIAN_PACKAGES = ("python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
                   "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad")


def gstreamer_missing() -> str | None:
    """Why simulated cameras cannot run here, or None."""
    probe = ("import gi; gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import GstRtspServer")
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", probe], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return (f"模拟摄像机需要 GStreamer RTSP 服务器 simulated cameras need the GStreamer RTSP "
                f"server: apt-get install {DEBIAN_PACKAGES}")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CameraServer:
    """One RTSP server process serving ``mounts`` (path -> clip .json) on ``port``."""

    def __init__(self, mounts: dict[str, Path], port: int | None = None,
                 user: str | None = None, password: str | None = None,
                 backchannel: Path | None = None) -> None:
        """``backchannel``: the cameras have an audio output (ONVIF Profile T); what is
        said to them lands in this file as 16-bit mono PCM at 8 kHz."""
        self.mounts = mounts
        self.backchannel = backchannel
        self.port = port or free_port()
        self.user, self.password = user, password
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> CameraServer:
        cmd = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port)]
        for path, meta in self.mounts.items():
            cmd += ["--mount", f"{path}={meta}"]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        if self.backchannel:
            cmd += ["--backchannel", str(self.backchannel)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "GST_DEBUG": "0"})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"simulated camera server failed to start on port {self.port}")
        return self

    def url(self, mount: str, auth: bool = True) -> str:
        cred = f"{self.user}:{self.password}@" if auth and self.user else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}{mount}"

    def freeze(self) -> None:
        """Keep the connections but send nothing (a stalled camera)."""
        self._signal(signal.SIGUSR1)

    def thaw(self) -> None:
        self._signal(signal.SIGUSR2)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def _signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def __enter__(self) -> CameraServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
