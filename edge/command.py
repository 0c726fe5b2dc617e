"""How edge starts a child of its own (the recorder, the web UI, a snapshot, an export)."""

from __future__ import annotations

import sys


def edge_argv(*args: str) -> list[str]:
    """``python -P -m edge ARGS`` with this interpreter: ``-P`` keeps the working directory
    off ``sys.path``, so the child runs the edge this venv installed, never a source tree
    that happens to be where the daemon was started (an updated slot must run itself)."""
    return [sys.executable, "-P", "-m", "edge", *args]
