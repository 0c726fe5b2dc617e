"""A stand-in for ``systemctl restart edge`` (these machines have no systemd as PID 1):
stop the daemon in the pid file, start ``<root>/venv/bin/edge run`` again through the
venv symlink, as the unit's ExecStart does, write its pid, and fail as systemctl does when
the daemon exits before it is up.

    python -m tests.integration.service restart ROOT CONFIG
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge.app import STATUS_FILE
from edge.config import load


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


def start(root: Path, config: Path) -> int:
    """Start it and, as systemd does for a Type=notify unit, wait until it is up (here: it
    wrote its status) or has exited — then fail as ``systemctl`` does (exit 1)."""
    log = (config.parent / "edge.log").open("ab")
    started = time.time()
    proc = subprocess.Popen([str(root / "venv" / "bin" / "edge"), "run", "--config", str(config)],
                            stdout=log, stderr=log, start_new_session=True)
    (root / "edge.pid").write_text(str(proc.pid))
    status = load(config).data_dir / STATUS_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print("Job for edge.service failed because the control process exited with error "
                  "code.", file=sys.stderr)
            return 1
        if status.exists() and status.stat().st_mtime >= started:
            return 0
        time.sleep(0.2)
    return 0  # still starting: systemd's start timeout is longer than this wait


if __name__ == "__main__":
    action, root_arg, config_arg = sys.argv[1:4]
    if action in ("stop", "restart"):
        stop(Path(root_arg))
    if action in ("start", "restart"):
        sys.exit(start(Path(root_arg), Path(config_arg)))
