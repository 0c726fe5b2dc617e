"""What the web process holds for every request: the configuration, the live status the
supervisor writes, the sign-in rate limiter and the export jobs."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from edge.command import SUPERVISOR_ENV
from edge.config import EdgeConfig

SECRET_FILE = "web-secret"
STATUS_FILE = "status.json"  # written by the supervisor (edge/app.py)
STATUS_STALE_S = 10.0
LOGIN_WINDOW_S = 300.0
LOGIN_ATTEMPTS = 20  # per client address per window, whatever the user names


class Context:
    def __init__(self, cfg: EdgeConfig, config_path: Path) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.started = time.time()
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.jobs: dict[str, Any] = {}  # export jobs by id (edge/web/views/export.py)
        # `edge run` that started this process: it reloads on SIGHUP, reboots on SIGUSR2
        pid = os.environ.get(SUPERVISOR_ENV, "")
        self.supervisor_pid = int(pid) if pid.isascii() and pid.isdigit() else None

    def secret_key(self) -> bytes:
        """The session-signing key: made once, 0600, in the data dir."""
        path = self.cfg.data_dir / SECRET_FILE
        if not path.exists():
            self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())

    def status(self) -> dict[str, Any] | None:
        """The supervisor's live status, or None if the daemon is not running."""
        try:
            status = json.loads((self.cfg.data_dir / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(status, dict) or time.time() - float(status.get("ts", 0)) > \
                STATUS_STALE_S:
            return None
        return status

    def login_allowed(self, address: str, now: float) -> bool:
        """At most LOGIN_ATTEMPTS sign-ins per address per LOGIN_WINDOW_S."""
        with self._lock:
            times = self._attempts.setdefault(address, deque())
            while times and times[0] < now - LOGIN_WINDOW_S:
                times.popleft()
            if len(times) >= LOGIN_ATTEMPTS:
                return False
            times.append(now)
            return True
