"""Asking the daemon's voice service (edge/voice/service.py) from the web UI's process and
the MQTT runner: light, so that importing it loads neither numpy nor PyAV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge import localsock

NAME = "voice"
TALK_IDLE_S = 5.0  # a talk whose page stopped sending (closed, lost its network) ends


def ask(data_dir: Path, request: dict[str, object], timeout_s: float = 10.0) -> dict[str, Any]:
    """One request to the daemon's voice service (not ``talk``)."""
    return localsock.ask(data_dir, NAME, request, timeout_s,
                         "广播服务不可用 the voice service is unavailable")
