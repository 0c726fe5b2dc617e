"""A stand-in for ``systemctl restart edge`` (these machines have no systemd as PID 1):
stop the daemon in the pid file, start ``<root>/venv/bin/edge run`` again through the
venv symlink, as the unit's ExecStart does, and write its pid.

    python -m tests.integration.service restart ROOT CONFIG
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def stop(root: Path) -> None:
    pidfile = root / "edge.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def start(root: Path, config: Path) -> None:
    log = (config.parent / "edge.log").open("ab")
    proc = subprocess.Popen([str(root / "venv" / "bin" / "edge"), "run", "--config", str(config)],
                            stdout=log, stderr=log, start_new_session=True)
    (root / "edge.pid").write_text(str(proc.pid))


if __name__ == "__main__":
    action, root_arg, config_arg = sys.argv[1:4]
    if action in ("stop", "restart"):
        stop(Path(root_arg))
    if action in ("start", "restart"):
        start(Path(root_arg), Path(config_arg))
