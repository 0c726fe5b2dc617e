"""Bytes on the wire by purpose, counted where this process's own sockets send and
receive: SIP datagrams as they go (with their IPv4/UDP headers), TCP connections (MQTT,
SIP over TCP) from the kernel's counters of each watched socket. The uplink runner takes
the totals; the media sessions, in the recorder process, are counted from its status."""

from __future__ import annotations

import socket
import threading

from edge.uplink.budget import PURPOSES
from edge.uplink.tcpinfo import IPV4_UDP_HEADERS, TcpCounters, tcp_counters


class Meter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = {p: [0, 0] for p in PURPOSES}  # sent, received since the last take
        self._watched: dict[int, tuple[str, socket.socket, tuple[int, int]]] = {}

    def datagram(self, purpose: str, sent: int = 0, received: int = 0) -> None:
        """One datagram's payload each way (headers are added here)."""
        with self._lock:
            t = self._totals[purpose]
            t[0] += sent + IPV4_UDP_HEADERS if sent else 0
            t[1] += received + IPV4_UDP_HEADERS if received else 0

    def add(self, purpose: str, sent: int, received: int) -> None:
        with self._lock:
            t = self._totals[purpose]
            t[0] += sent
            t[1] += received

    def watch(self, purpose: str, sock: socket.socket) -> None:
        """A TCP connection of ours: counted until ``unwatch`` (call it before closing)."""
        with self._lock:
            self._watched[id(sock)] = (purpose, sock, (0, 0))

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            entry = self._watched.pop(id(sock), None)
            if entry:
                self._read(*entry)

    def take(self) -> dict[str, tuple[int, int]]:
        """(sent, received) per purpose since the last take."""
        with self._lock:
            for key, entry in list(self._watched.items()):
                self._watched[key] = (entry[0], entry[1], self._read(*entry))
            out = {p: (t[0], t[1]) for p, t in self._totals.items()}
            self._totals = {p: [0, 0] for p in PURPOSES}
            return out

    def _read(self, purpose: str, sock: socket.socket, seen: tuple[int, int]) -> tuple[int, int]:
        counters: TcpCounters | None = tcp_counters(sock)
        if counters is None:
            return seen
        now = (counters.wire_sent, counters.wire_received)
        t = self._totals[purpose]
        t[0] += max(0, now[0] - seen[0])
        t[1] += max(0, now[1] - seen[1])
        return now


METER = Meter()  # the supervisor process's: its SIP and MQTT runners count into it
