"""The live hub, reachable from the other processes (the web UI, the detector): a Unix
socket in the abstract namespace, named after the data dir, that only processes of the
same user (or root) may use (SO_PEERCRED).

A client sends one JSON line, ``{"channel": "...", "stream": 0|1, "keyframes": false}``,
and then reads records: ``[kind: 1 byte][length: 4 bytes][payload]`` where kind is
``I`` (the stream description as JSON, again whenever the camera reconnects), ``N`` (the
camera went away), ``F`` (a frame: flags byte (1 video, 2 keyframe), wall time as a
double, the data) or ``E`` (an error as text, then the connection closes). The first
records are the cached GOP, so a viewer starts with a keyframe at once. A client that
reads slowly skips to the next keyframe; the camera thread never waits for it.
"""

from __future__ import annotations

import json
import queue
import select
import socket
import struct
import threading
from pathlib import Path
from typing import Iterator

from edge import localsock
from edge.errors import ProtocolError
from edge.ingest.media import Frame, StreamInfo
from edge.stream.frames import FrameQueue
from edge.stream.hub import StreamHub


MAX_RECORD = 16 << 20  # one access unit of a 4K keyframe is a few MB
MAX_REQUEST = 1024
SEND_TIMEOUT_S = 10.0
TAP_CLIENTS = 128  # live tiles, exports and thumbnails at once
IDLE_CHECK_S = 2.0
_HEAD = struct.Struct(">cI")
_FRAME = struct.Struct(">Bd")


class TapError(ProtocolError):
    """The tap sent (or was sent) something that is not a record we understand."""


def address(data_dir: Path) -> str:
    return localsock.address(data_dir, "tap")


def encode(kind: bytes, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def encode_frame(frame: Frame) -> bytes:
    flags = (1 if frame.video else 0) | (2 if frame.keyframe else 0)
    return encode(b"F", _FRAME.pack(flags, frame.t) + frame.data)


Record = tuple[str, StreamInfo | Frame | str | None]


def decode(buf: bytearray) -> Iterator[Record]:
    """Whole records off the front of ``buf`` (consumed); a partial one stays."""
    while len(buf) >= _HEAD.size:
        kind, length = _HEAD.unpack_from(buf)
        if length > MAX_RECORD:
            raise TapError(f"tap record of {length} bytes exceeds {MAX_RECORD}")
        if len(buf) < _HEAD.size + length:
            return
        payload = bytes(buf[_HEAD.size:_HEAD.size + length])
        del buf[:_HEAD.size + length]
        if kind == b"F":
            if len(payload) < _FRAME.size:
                raise TapError("tap frame record is truncated")
            flags, t = _FRAME.unpack_from(payload)
            yield "frame", Frame(bool(flags & 1), bool(flags & 2), payload[_FRAME.size:], t)
        elif kind == b"I":
            try:
                info = StreamInfo.from_dict(json.loads(payload))
            except (ValueError, ProtocolError) as exc:
                raise TapError(f"tap stream description refused: {exc}") from None
            yield "info", info
        elif kind == b"N":
            yield "gone", None
        elif kind == b"E":
            yield "error", payload.decode("utf-8", "replace")
        else:
            raise TapError(f"tap record kind {kind!r} is unknown")


class TapServer(localsock.LocalServer):
    """In the recorder process: accepts tap clients and serves each from the hub."""

    def __init__(self, hub: StreamHub, data_dir: Path, stop: threading.Event) -> None:
        super().__init__("tap", data_dir, stop, clients=TAP_CLIENTS, backlog=64)
        self.hub = hub

    def serve(self, conn: socket.socket) -> None:
        client: _Client | None = None
        try:
            conn.settimeout(SEND_TIMEOUT_S)
            request = localsock.read_request(conn, MAX_REQUEST)
            channel, stream = request.get("channel"), request.get("stream", 0)
            if not isinstance(channel, str) or stream not in (0, 1):
                conn.sendall(encode(b"E", b"bad request"))
                return
            client = _Client(bool(request.get("keyframes")))
            key, info, gop = self.hub.subscribe(channel, client, stream)
            client.key = key
            if info is not None:
                client.on_info(info)
                for frame in gop:
                    client.offer(frame)
            else:
                client.on_info(None)
            client.run(conn)
        finally:
            if client is not None and client.key:
                self.hub.unsubscribe(client.key, client)


class _Client:
    """One tap connection as a hub consumer; its own thread sends the records."""

    def __init__(self, keyframes_only: bool) -> None:
        self.keyframes_only = keyframes_only
        self.queue: FrameQueue[bytes] = FrameQueue()
        self.key = ""

    def offer(self, frame: Frame) -> None:
        if self.keyframes_only and not (frame.video and frame.keyframe):
            return
        self.queue.offer(encode_frame(frame), frame.video and frame.keyframe)

    def on_info(self, info: StreamInfo | None) -> None:
        record = encode(b"N", b"") if info is None else encode(
            b"I", json.dumps(info.as_dict()).encode())
        self.queue.force(record)

    def run(self, conn: socket.socket) -> None:
        while True:
            try:
                record = self.queue.get(timeout=IDLE_CHECK_S)
            except queue.Empty:  # a camera that sends nothing: is the reader still there?
                if _closed(conn):
                    return
                continue
            if record is None:
                return
            conn.sendall(record)


def _closed(conn: socket.socket) -> bool:
    """Whether the reader hung up, without waiting: a socket with a timeout polls for that
    long before any recv, MSG_DONTWAIT or not (which held a keyframes-only reader's first
    frames back by 10 s when it came before its camera)."""
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class TapReader:
    """The client side (web, detector): connect, ask, iterate over the records."""

    def __init__(self, data_dir: Path, channel: str, stream: int = 0,
                 keyframes: bool = False, timeout_s: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        try:
            self.sock.connect(address(data_dir))
        except OSError:
            self.sock.close()
            raise
        self.sock.sendall(json.dumps({"channel": channel, "stream": stream,
                                      "keyframes": keyframes}).encode() + b"\n")

    def records(self) -> Iterator[Record]:
        buf = bytearray()
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                return
            buf += data
            yield from decode(buf)

    def close(self) -> None:
        self.sock.close()
