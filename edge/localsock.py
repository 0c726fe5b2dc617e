"""Sockets between edge's own processes (the recorder's live tap, the daemon's PTZ and
voice): Unix sockets in the abstract namespace, named after the data directory (no file
to leave behind, no path-length limit), usable only by processes of the same user or root
(SO_PEERCRED). A client opens with one JSON line; a ``LocalServer`` serves each client in
a thread of its own, at most so many at once."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from edge.errors import ProtocolError
from edge.runner import Runner, survive

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


def read_line(sock: socket.socket, limit: int = 1 << 20) -> dict[str, Any]:
    """One JSON object answer line, read byte by byte: a stream may follow it."""
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    reply = json.loads(data)
    return reply if isinstance(reply, dict) else {"ok": False, "error": "bad answer"}


def ask(data_dir: Path, name: str, request: dict[str, object], timeout_s: float,
        unavailable: str) -> dict[str, Any]:
    """One request to the daemon's ``name`` service and its answer; ``{"ok": false,
    "error": unavailable + why}`` when it is not there (not running, restarting)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(address(data_dir, name))
            sock.sendall(json.dumps(request).encode() + b"\n")
            return read_line(sock)
        except (OSError, ValueError) as exc:
            return {"ok": False, "error": f"{unavailable}: {exc}"}


class LocalServer(Runner):
    """A runner serving one local socket: ``serve(conn)`` in a thread per allowed client,
    at most ``clients`` at once (the rest are closed at once); ``turn()`` runs between
    accepts."""

    stale_after_s = float("inf")  # it waits in accept(): no beat to give

    def __init__(self, name: str, data_dir: Path, stop: threading.Event, clients: int,
                 backlog: int = 16) -> None:
        super().__init__(name, stop)
        self.slots = threading.BoundedSemaphore(clients)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(address(data_dir, name))
        self.sock.listen(backlog)
        self.sock.settimeout(0.5)

    def loop(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.beat()
                with survive(logger, "%s: a connection", self.name):
                    self._accept()
                with survive(logger, "%s: its work between connections", self.name):
                    self.turn()
        finally:
            self.sock.close()

    def turn(self) -> None:
        """Work of its own between accepts; none by default."""

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except TimeoutError:
            return
        except OSError as exc:  # out of file descriptors, say: wait, and go on
            logger.warning("%s: accept failed: %s", self.name, exc)
            self.stop_event.wait(1.0)
            return
        if not peer_allowed(conn, self.name) or not self.slots.acquire(blocking=False):
            conn.close()
            return
        threading.Thread(target=self._client, args=(conn,), name=f"{self.name}-client",
                         daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except (OSError, ProtocolError) as exc:
            logger.debug("%s client ended: %s", self.name, exc)
        except Exception:  # noqa: BLE001 — one client must not end the service
            logger.exception("%s: dropped a client after an unexpected error", self.name)
        finally:
            conn.close()
            self.slots.release()
