"""Sockets between edge's own processes (the recorder's live tap, the daemon's PTZ): Unix
sockets in the abstract namespace, named after the data directory (no file to leave
behind, no path-length limit), usable only by processes of the same user or root
(SO_PEERCRED). A client opens with one JSON line."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import struct
from pathlib import Path

from edge.errors import ProtocolError

logger = logging.getLogger(__name__)


class LocalSocketError(ProtocolError):
    """A request line that is missing, too long or not a JSON object."""


def address(data_dir: Path, name: str) -> str:
    digest = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return f"\0edge-{name}-{digest}"


def peer_allowed(conn: socket.socket, what: str) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    if uid in (0, os.getuid()):
        return True
    logger.warning("%s: refused process %d of user %d", what, pid, uid)
    return False


def read_request(conn: socket.socket, limit: int) -> dict[str, object]:
    """One JSON object on one line of at most ``limit`` bytes."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(limit)
        if not chunk or len(data) + len(chunk) > limit:
            raise LocalSocketError("request missing or too long")
        data += chunk
    try:
        request = json.loads(data)
    except ValueError as exc:
        raise LocalSocketError(f"request is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise LocalSocketError("request is not a JSON object")
    return request
