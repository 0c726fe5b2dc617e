"""The web server's defence against clients that hold its threads (issue 22, finding 1):
cheroot gives each connection that has sent a first byte a worker thread until its request
is read, and waits up to its socket timeout for *each* byte — a client sending one byte
every 5 s holds a thread forever, and 48 such clients hold them all before anyone signs in.

Two limits, kept here and applied by ``GuardedConnection`` (edge/web/server.py):
- a deadline for a request's head (``HEAD_S``) and, when it has a body, for the whole
  request at a floor rate (``BODY_S`` + Content-Length / ``BODY_RATE``); past it the socket
  is shut, which frees the thread;
- at most ``PER_ADDRESS`` requests being read at once from one client address; the next
  is answered 503 at once. Requests already answering (a live tile's stream) do not count.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

HEAD_S = 10.0
BODY_S = 30.0
BODY_RATE = 16 * 1024  # bytes/s: a 300-MB update over a poor 4G link still gets through
PER_ADDRESS = 8


class Guard:
    """Deadlines and per-address counts of requests being read; ``close`` is how a
    connection past its deadline is cut (the I/O layer passes ``socket.shutdown``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._reading: dict[str, int] = {}
        self._deadlines: dict[int, tuple[float, Callable[[], None]]] = {}

    def start(self, key: int, address: str, close: Callable[[], None]) -> bool:
        """A request begins on connection ``key``; False if its address has too many."""
        with self._lock:
            if self._reading.get(address, 0) >= PER_ADDRESS:
                return False
            self._reading[address] = self._reading.get(address, 0) + 1
            self._deadlines[key] = (self.clock() + HEAD_S, close)
            return True

    def head_read(self, key: int, address: str, content_length: int) -> None:
        """Its head arrived: without a body it is no longer limited; with one, the whole
        request is, at the floor rate."""
        with self._lock:
            self._reading[address] = max(0, self._reading.get(address, 1) - 1)
            if content_length > 0 and key in self._deadlines:
                self._deadlines[key] = (self.clock() + BODY_S + content_length / BODY_RATE,
                                        self._deadlines[key][1])
            else:
                self._deadlines.pop(key, None)

    def end(self, key: int, address: str, head_read: bool) -> None:
        with self._lock:
            if not head_read:
                self._reading[address] = max(0, self._reading.get(address, 1) - 1)
            if not self._reading.get(address):
                self._reading.pop(address, None)
            self._deadlines.pop(key, None)

    def expired(self) -> list[Callable[[], None]]:
        """The close actions of requests past their deadline (each returned once)."""
        now = self.clock()
        with self._lock:
            late = [k for k, (deadline, _) in self._deadlines.items() if deadline < now]
            return [self._deadlines.pop(k)[1] for k in late]

    def reading(self, address: str) -> int:
        with self._lock:
            return self._reading.get(address, 0)
