"""How edge starts a child of its own (the recorder, the web UI, a snapshot, an export)."""

from __future__ import annotations

import os
import sys
import threading
import time


def edge_argv(*args: str) -> list[str]:
    """``python -P -m edge ARGS`` with this interpreter: ``-P`` keeps the working directory
    off ``sys.path``, so the child runs the edge this venv installed, never a source tree
    that happens to be where the daemon was started (an updated slot must run itself)."""
    return [sys.executable, "-P", "-m", "edge", *args]


# set by the supervisor in every child's environment: the PID of the `edge run` that started it
SUPERVISOR_ENV = "EDGE_SUPERVISOR_PID"
ORPHAN_CHECK_S = 1.0


def exit_with_parent() -> None:
    """In a child of edge's: exit as soon as the process that started it is gone (SIGKILLed
    outside systemd, its children would live on, a web UI holding the port and serving a
    stale node). The parent is polled, not signalled: PR_SET_PDEATHSIG fires when the
    *thread* that forked exits, and the supervisor starts children from several threads."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
