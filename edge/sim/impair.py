"""A bad link between the node and a peer, in user space (``tc netem`` is not available
on these machines): for the 4G tests and for ``bench/uplink.py``, which also reads its
byte counters.

``UdpLink`` stands where a carrier NAT stands: the node sends to the link instead of the
platform, the link forwards from its own "public" socket, and the platform answers and
sends its requests to that public port. Datagrams can be delayed, jittered, lost,
duplicated and reordered; ``rebind()`` moves the public port (what a carrier NAT does
when it drops a mapping), and ``nat_timeout_s`` drops the mapping after that long without
a datagram from the node, as carriers do (30-120 s for UDP).

``TcpLink`` forwards each connection through two pumps with a one-way delay and a rate
cap; ``stall()`` stops forwarding without closing anything (no RST, no FIN: the peer's
kernel still acknowledges what fits in its buffers, as a black-holed 4G bearer's does
not, so only the applications can tell) and ``reset()`` closes every connection with RST.
"""

from __future__ import annotations

import heapq
import itertools
import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from edge.uplink.tcpinfo import IPV4_UDP_HEADERS, tcp_counters

CHUNK = 16 * 1024
BACKLOG = 64 * 1024  # bytes a TCP pipe holds beyond the kernel's buffers


@dataclass
class LinkProfile:
    """Impairments, each direction alike; change the fields while the link runs."""

    delay_s: float = 0.0  # one way
    jitter_s: float = 0.0  # +- uniform, added to the delay
    loss: float = 0.0  # datagrams only
    duplicate: float = 0.0
    reorder: float = 0.0  # chance a datagram is held back 2 x delay + 20 ms more
    rate_bps: float = 0.0  # 0: unlimited
    down: bool = False  # an outage: datagrams dropped, TCP not forwarded


@dataclass
class Tally:
    packets: int = 0
    payload: int = 0

    def add(self, size: int) -> None:
        self.packets += 1
        self.payload += size


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class _Pacer:
    """When the next datagram of one direction may leave, at the profile's rate."""

    def __init__(self) -> None:
        self.free_at = 0.0

    def departure(self, now: float, size: int, rate_bps: float) -> float:
        if rate_bps <= 0:
            return now
        self.free_at = max(now, self.free_at) + size * 8 / rate_bps
        return self.free_at


class UdpLink:
    def __init__(self, upstream: tuple[str, int], profile: LinkProfile | None = None,
                 nat_timeout_s: float = 0.0, seed: int = 0) -> None:
        self.upstream = upstream
        self.profile = profile or LinkProfile()
        self.nat_timeout_s = nat_timeout_s
        self.rng = random.Random(seed)
        self.inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.inside.bind(("127.0.0.1", 0))
        self.public = self._new_public()
        self.node: tuple[str, int] | None = None  # where the node sends from
        self.last_outbound = time.monotonic()
        self.up, self.down = Tally(), Tally()  # node -> platform, platform -> node (delivered)
        self.dropped_inbound = 0  # from the platform to a mapping that was gone
        self.rebinds = 0
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._pace_up, self._pace_down = _Pacer(), _Pacer()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="udp-link", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """Where the node must send (its platform's host and port in the config)."""
        return ("127.0.0.1", self.inside.getsockname()[1])

    @property
    def public_port(self) -> int:
        return int(self.public.getsockname()[1])

    def wire_bytes(self) -> tuple[int, int]:
        """(node -> platform, platform -> node) with IPv4 and UDP headers."""
        return (self.up.payload + IPV4_UDP_HEADERS * self.up.packets,
                self.down.payload + IPV4_UDP_HEADERS * self.down.packets)

    def rebind(self) -> None:
        """The carrier gives the node a new public port; the old one is dead."""
        with self._lock:
            self.public.close()
            self.public = self._new_public()
            self.rebinds += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.inside.close()
        self.public.close()

    def _new_public(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        return sock

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                wait = min(0.05, max(0.0, self._due[0].at - time.monotonic())) if self._due else 0.05
                socks = [self.inside, self.public]
            readable, _, _ = select.select(socks, [], [], wait)
            now = time.monotonic()
            for sock in readable:
                try:
                    data, peer = sock.recvfrom(65_535)
                except OSError:
                    continue  # the public socket was just replaced, or ICMP
                if sock is self.inside:
                    self._outbound(data, peer, now)
                else:
                    self._inbound(data, now)
            with self._lock:
                while self._due and self._due[0].at <= time.monotonic():
                    heapq.heappop(self._due).action()

    def _outbound(self, data: bytes, peer: tuple[str, int], now: float) -> None:
        self.node = peer
        with self._lock:
            if self.nat_timeout_s and now - self.last_outbound > self.nat_timeout_s:
                self.public.close()  # the mapping timed out: this datagram opens a new one
                self.public = self._new_public()
                self.rebinds += 1
            self.last_outbound = now
        self._schedule(data, now, self._pace_up, self._send_up)

    def _inbound(self, data: bytes, now: float) -> None:
        expired = self.nat_timeout_s and now - self.last_outbound > self.nat_timeout_s
        if expired or self.node is None:
            self.dropped_inbound += 1
            return
        self._schedule(data, now, self._pace_down, self._send_down)

    def _schedule(self, data: bytes, now: float, pacer: _Pacer,
                  send: Callable[[bytes], None]) -> None:
        p, rng = self.profile, self.rng
        if p.down or rng.random() < p.loss:
            return
        copies = 2 if rng.random() < p.duplicate else 1
        for _ in range(copies):
            at = pacer.departure(now, len(data), p.rate_bps) + p.delay_s
            at += rng.uniform(-p.jitter_s, p.jitter_s) if p.jitter_s else 0.0
            if rng.random() < p.reorder:
                at += 2 * p.delay_s + 0.02
            with self._lock:
                heapq.heappush(self._due, _Due(at, next(self._seq),
                                               lambda d=data: send(d)))

    def _send_up(self, data: bytes) -> None:  # under the lock
        try:
            self.public.sendto(data, self.upstream)
            self.up.add(len(data))
        except OSError:
            pass

    def _send_down(self, data: bytes) -> None:  # under the lock
        if self.node is None:
            return
        try:
            self.inside.sendto(data, self.node)
            self.down.add(len(data))
        except OSError:
            pass


class _Pipe:
    """One direction of one connection: read, hold for the delay, send at the rate."""

    def __init__(self, link: TcpLink, src: socket.socket, dst: socket.socket) -> None:
        self.link, self.src, self.dst = link, src, dst
        self.queue: list[tuple[float, bytes]] = []
        self.cond = threading.Condition()
        self.closed = False
        self.pacer = _Pacer()
        threading.Thread(target=self._read, daemon=True, name="tcp-link-read").start()
        threading.Thread(target=self._write, daemon=True, name="tcp-link-write").start()

    def _read(self) -> None:
        while not self.closed:
            with self.cond:
                held = sum(len(d) for _, d in self.queue)
            # stalled, or the rate cap's backlog full: leave it in the kernel's buffers, so
            # the sender feels the link as it would a slow 4G bearer
            if self.link.profile.down or held >= BACKLOG:
                time.sleep(0.02)
                continue
            readable, _, _ = select.select([self.src], [], [], 0.05)
            if not readable:
                continue
            try:
                data = self.src.recv(CHUNK)
            except OSError:
                data = b""
            with self.cond:
                self.queue.append((time.monotonic() + self.link.profile.delay_s, data))
                self.cond.notify()
            if not data:
                return

    def _write(self) -> None:
        while True:
            with self.cond:
                while not self.queue and not self.closed:
                    self.cond.wait(0.1)
                if self.closed and not self.queue:
                    return
                due, data = self.queue[0]
            wait = due - time.monotonic()
            if wait > 0 or self.link.profile.down:
                time.sleep(min(max(wait, 0.0), 0.05) if wait > 0 else 0.05)
                continue
            with self.cond:
                self.queue.pop(0)
            if not data:  # the sender closed: pass the FIN on
                try:
                    self.dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            leave = self.pacer.departure(time.monotonic(), len(data), self.link.profile.rate_bps)
            time.sleep(max(0.0, leave - time.monotonic()))
            try:
                self.dst.sendall(data)
            except OSError:
                return


class TcpLink:
    def __init__(self, upstream: tuple[str, int], profile: LinkProfile | None = None) -> None:
        self.upstream = upstream
        self.profile = profile or LinkProfile()
        self.listener = socket.create_server(("127.0.0.1", 0))
        # a small window, as a slow bearer's: the rate cap must push back on the sender,
        # not fill megabytes of loopback buffers (accepted sockets inherit it)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        self.connections: list[tuple[socket.socket, socket.socket, list[_Pipe]]] = []
        self.accepted = 0
        self._closed_wire = [0, 0]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, name="tcp-link", daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.listener.getsockname()[1])

    def stall(self, stalled: bool = True) -> None:
        self.profile.down = stalled

    def reset(self) -> None:
        """Every connection closed with an RST, both ways."""
        for inside, outside, pipes in self.connections:
            for pipe in pipes:
                pipe.closed = True
            for sock in (inside, outside):
                self._count_closed(sock, inside)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
        self.connections.clear()

    def wire_bytes(self) -> tuple[int, int]:
        """(node -> peer, peer -> node) on the node's side, IPv4 and TCP headers included,
        from the kernel's counters of the accepted sockets."""
        up, down = self._closed_wire
        for inside, _outside, _pipes in self.connections:
            counters = tcp_counters(inside)
            if counters:
                up, down = up + counters.wire_received, down + counters.wire_sent
        return up, down

    def close(self) -> None:
        self._stop.set()
        self.reset()
        self.listener.close()

    def _count_closed(self, sock: socket.socket, inside: socket.socket) -> None:
        if sock is inside and (counters := tcp_counters(sock)):
            self._closed_wire[0] += counters.wire_received
            self._closed_wire[1] += counters.wire_sent

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                inside, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                outside = socket.create_connection(self.upstream, 5)
            except OSError:
                inside.close()
                continue
            self.accepted += 1
            pipes = [_Pipe(self, inside, outside), _Pipe(self, outside, inside)]
            self.connections.append((inside, outside, pipes))
