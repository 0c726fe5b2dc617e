"""The daemon's domes, for the web UI's process: one local socket (edge/localsock.py), one
JSON request line per connection, one JSON answer line. The web UI steers through the
daemon's own workers (edge/ptz/steering.py), so the room, the cascade and ``edge ptz``
share one worker per dome: the last command wins, any command ends a tour, and the idle
return to home counts everyone's commands.

Requests: ``{"channel": ID, "action": "left"|...|"preset-call"|"home", "number": N,
"speed": 1-8}`` (queued; the move lasts ``HOLD_S`` unless renewed), ``{"channel": ID,
"action": "presets"}`` (the camera's presets, asked now) and ``{"channel": ID, "action":
"has-ptz"}``. Answers: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

from edge import localsock
from edge.onvif.device import OnvifError
from edge.ptz.ops import PtzError, action
from edge.ptz.steering import Steering


NAME = "ptz"
MAX_REQUEST = 1024
CLIENTS = 8  # connections served at once (a presets read waits for the camera)
ASK_TIMEOUT_S = 15.0


def answer(steering: Steering, request: dict[str, object]) -> dict[str, Any]:
    """What the daemon says to one request (never raises for what a request holds)."""
    channel, word = request.get("channel"), request.get("action")
    number, speed = request.get("number", 0), request.get("speed", 4)
    if not (isinstance(channel, str) and isinstance(word, str) and type(number) is int
            and type(speed) is int):
        return {"ok": False, "error": "bad request"}
    try:
        if word == "has-ptz":
            return {"ok": True, "ptz": steering.has_ptz(channel)}
        if word == "presets":  # with whether the pad may offer focus
            presets = steering.presets(channel)
            return {"ok": True, "presets": presets, "imaging": steering.imaging(channel)}
        steering.submit(channel, action(word, number, speed), "web")
        return {"ok": True}
    except (PtzError, OnvifError) as exc:
        return {"ok": False, "error": str(exc)}


class PtzService(localsock.LocalServer):
    """In the daemon: serves the web UI's PTZ requests."""

    def __init__(self, steering: Steering, data_dir: Path, stop: threading.Event) -> None:
        super().__init__(NAME, data_dir, stop, CLIENTS)
        self.steering = steering

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(ASK_TIMEOUT_S)
        reply = answer(self.steering, localsock.read_request(conn, MAX_REQUEST))
        conn.sendall(json.dumps(reply, ensure_ascii=False).encode() + b"\n")


def ask(data_dir: Path, request: dict[str, object], timeout_s: float = ASK_TIMEOUT_S
        ) -> dict[str, Any]:
    """The web UI's side: one request to the daemon."""
    return localsock.ask(data_dir, NAME, request, timeout_s,
                         "云台服务不可用 the PTZ service is unavailable")
