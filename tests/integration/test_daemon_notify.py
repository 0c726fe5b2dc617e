"""systemd notify protocol against a real datagram socket: READY once recording works,
WATCHDOG only while every runner is healthy (a recorder still starting is), nothing while
it is wedged; a wedged recorder is killed and replaced, and the pings come back; a reload
is RELOADING then READY, never STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Callable

from edge.sim.server import CameraServer
from tests.conftest import Daemon, write_config


def _collect(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    out = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            out.append((time.monotonic(), sock.recv(4096).decode()))
        except TimeoutError:
            break
    return out


def test_ready_and_watchdog_follow_recorder_health(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264"})
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    config = write_config(tmp_path / "edge.toml", tmp_path / "data",
                          [("34020000001320000001", cam.url("/a"))])
    daemon = Daemon(config, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")}).start()
    try:
        first = _collect(notify, 15)
        states = [m for _, m in first]
        assert states.count("READY=1") == 1  # pings may come first, while it starts
        assert states.count("WATCHDOG=1") >= 10  # every half second once healthy
        recorder = daemon.recorder_pid()
        assert recorder is not None
        os.kill(recorder, signal.SIGSTOP)  # wedged: alive but silent
        stopped = time.monotonic()
        wedged = _collect(notify, 25)
        pings = [t - stopped for t, m in wedged if m == "WATCHDOG=1"]
        # silent for the stale time (10 s): the pings stop, then the supervisor kills the
        # wedged recorder, starts a new one, and the pings resume once it reports
        gaps = [(a, b) for a, b in zip([0.0] + pings, pings) if b - a > 1.5]  # pings: 0.5 s
        assert gaps, f"pings went on while the recorder was wedged: {pings}"
        assert gaps[0][0] <= 11, "pings must stop once the recorder goes silent"
        assert pings[-1] > gaps[0][1], "no ping after the wedged recorder was replaced"
        assert daemon.recorder_pid() not in (None, recorder)
        # a reload (settings saved, reload-config) is no stop for systemd: RELOADING with a
        # watchdog long enough for a slow box's restart, then READY again, same process
        assert daemon.proc is not None
        os.kill(daemon.proc.pid, signal.SIGHUP)
        after = [m for _, m in _collect(notify, 25)]
        # a watchdog ping already on its way when the signal came may arrive first
        at = next((i for i, m in enumerate(after) if m.startswith("RELOADING=1")), None)
        assert at is not None and set(after[:at]) <= {"WATCHDOG=1"}, after
        reloading = after[at:]
        assert reloading[0].startswith("RELOADING=1\nWATCHDOG_USEC="), reloading
        assert "STOPPING=1" not in reloading and "READY=1" in reloading
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
        assert "STOPPING=1" in [m for _, m in _collect(notify, 2)]
    finally:
        daemon.stop()
        notify.close()
