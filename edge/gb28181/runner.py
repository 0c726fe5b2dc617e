"""Runner: the SIP sockets towards upper platforms, driving one Registration each.

One UDP socket on ``node.sip_port`` serves every UDP platform (responses are routed by
Call-ID); each TCP platform gets its own connection, framed by SipStreamBuffer. The
protocol decisions live in sip/registration.py; this module only moves bytes and
time. Every request from a platform is answered 200 OK at once; a MANSCDP query is
then answered by separate MESSAGEs (gb28181/answers.py), paced by the state machine.
"""

from __future__ import annotations

import logging
import random
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from edge import __version__
from edge.config import EdgeConfig, PlatformConfig, platform_password
from edge.errors import ProtocolError
from edge.gb28181.answers import Channel, Node, answer
from edge.gb28181.manscdp import parse_body
from edge.gb28181.sip.framing import SipStreamBuffer
from edge.gb28181.sip.message import SipRequest, SipResponse, parse, response_to
from edge.gb28181.sip.registration import (
    ClockOffset, Effect, Registration, RegistrationChanged, Send, State, UpperPlatform,
)
from edge.record.index import Index

logger = logging.getLogger(__name__)

MAX_WAIT_S = 0.5
UNREGISTER_WAIT_S = 3.0
TCP_CONNECT_TIMEOUT_S = 5.0


@dataclass
class _Upper:
    cfg: PlatformConfig
    reg: Registration
    tcp: socket.socket | None = None
    stream: SipStreamBuffer = field(default_factory=SipStreamBuffer)


class SipRunner(threading.Thread):
    def __init__(self, cfg: EdgeConfig, stop: threading.Event,
                 channels: Callable[[], list[Channel]]) -> None:
        super().__init__(name="sip", daemon=True)
        self.cfg = cfg
        self.stop_event = stop
        self.channels = channels  # live camera states, from the supervisor
        self.index: Index | None = None
        self.uppers: list[_Upper] = []
        self.udp: socket.socket | None = None
        self.ready = threading.Event()

    def status(self) -> list[dict[str, object]]:
        """Per-platform state for health reporting."""
        return [{"id": u.cfg.id, "registered": u.reg.state is State.REGISTERED,
                 "state": u.reg.state.value, "last_error": u.reg.last_error,
                 "last_keepalive_ok": u.reg.last_keepalive_ok,
                 "clock_offset_s": u.reg.clock_offset_s} for u in self.uppers]

    def run(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.udp.bind(("0.0.0.0", self.cfg.node.sip_port))
        except OSError as exc:
            # recording goes on without GB/T 28181; the technician sees why
            logger.error("sip: cannot use SIP port %d (node.sip_port): %s; GB/T 28181 is off",
                         self.cfg.node.sip_port, exc.strerror)
            self.udp.close()
            return
        self.index = Index(self.cfg.data_dir, readonly=True)
        self.uppers = [self._upper(p) for p in self.cfg.platforms if p.enabled]
        self.ready.set()
        try:
            now = time.monotonic()
            for upper in self.uppers:
                self._apply(upper, upper.reg.start(now))
            while not self.stop_event.is_set():
                self._poll(self._wait_s())
                now = time.monotonic()
                for upper in self.uppers:
                    self._apply(upper, upper.reg.tick(now))
            self._unregister()
        finally:
            for upper in self.uppers:
                if upper.tcp:
                    upper.tcp.close()
            self.udp.close()
            self.index.close()

    def _upper(self, plat: PlatformConfig) -> _Upper:
        transport = plat.transport.upper()
        up = UpperPlatform(
            server_id=plat.id, domain=plat.sip_domain, host=plat.host, port=plat.port,
            transport=transport, local_id=self.cfg.node.id,
            local_host=_local_ip_towards(plat.host, plat.port),
            local_port=self.cfg.node.sip_port, username=plat.username or self.cfg.node.id,
            password=platform_password(plat), expires_s=plat.expires,
            keepalive_interval_s=plat.keepalive_interval,
            keepalive_timeout_count=plat.keepalive_timeout_count, charset=plat.charset,
            timezone=self.cfg.node.timezone,
        )
        return _Upper(plat, Registration(up, random.Random()))

    def _wait_s(self) -> float:
        deadline = min((u.reg.next_deadline() for u in self.uppers), default=float("inf"))
        return max(0.0, min(MAX_WAIT_S, deadline - time.monotonic()))

    def _poll(self, timeout: float) -> None:
        assert self.udp is not None
        socks = [self.udp] + [u.tcp for u in self.uppers if u.tcp]
        readable, _, _ = select.select(socks, [], [], timeout)
        for sock in readable:
            if sock is self.udp:
                data, peer = self.udp.recvfrom(65_535)
                self._datagram(data, peer)
            else:
                self._tcp_data(next(u for u in self.uppers if u.tcp is sock))

    def _datagram(self, data: bytes, peer: tuple[str, int]) -> None:
        try:
            msg = parse(data)
        except ProtocolError as exc:
            logger.warning("sip: dropped datagram from %s:%s: %s", *peer, exc)
            return
        if isinstance(msg, SipResponse):
            for upper in self.uppers:
                if upper.cfg.transport == "udp":
                    self._apply(upper, upper.reg.handle(msg, time.monotonic(), time.time()))
        else:
            self._request(msg, lambda out: self._sendto(out, peer), f"{peer[0]}:{peer[1]}")

    def _tcp_data(self, upper: _Upper) -> None:
        assert upper.tcp is not None
        try:
            data = upper.tcp.recv(65_535)
        except OSError as exc:
            data = b""
            logger.warning("platform=%s TCP error: %s", upper.cfg.id, exc)
        if not data:
            self._drop_tcp(upper, "connection closed by the platform")
            return
        upper.stream.feed(data)
        try:
            while (msg := upper.stream.next_message()) is not None:
                if isinstance(msg, SipResponse):
                    self._apply(upper, upper.reg.handle(msg, time.monotonic(), time.time()))
                else:
                    self._request(msg, lambda out: self._send_tcp(upper, out), upper.cfg.id)
        except ProtocolError as exc:
            self._drop_tcp(upper, f"bad SIP on the stream: {exc}")

    def _request(self, request: SipRequest, reply: Callable[[bytes], None], source: str) -> None:
        # answer first: a platform retransmits unanswered requests, and MANSCDP results
        # travel in MESSAGEs of their own
        reply(bytes(response_to(request, 200, "OK", to_tag=f"{random.getrandbits(32):08x}")))
        upper = next((u for u in self.uppers if f"sip:{u.cfg.id}@" in (request.header("From") or "")),
                     None)
        if request.method != "MESSAGE" or upper is None:
            logger.info("peer=%s %s answered 200 OK, not handled", source, request.method)
            return
        try:
            query = parse_body(request.body)
            bodies = answer(query, self._node(upper), self.channels(), self._spans, time.time())
        except ProtocolError as exc:
            logger.warning("platform=%s bad MANSCDP body: %s", upper.cfg.id, exc)
            return
        if not bodies:
            logger.info("platform=%s %s %s not supported yet", upper.cfg.id, query.root,
                        query.cmd_type)
            return
        logger.info("platform=%s %s SN=%d: answering in %d packet(s)", upper.cfg.id,
                    query.cmd_type, query.sn, len(bodies))
        self._apply(upper, upper.reg.send_answers(bodies, time.monotonic()))

    def _node(self, upper: _Upper) -> Node:
        node = self.cfg.node
        return Node(node.id, node.name, node.timezone, charset=upper.cfg.charset,
                    firmware=__version__)

    def _spans(self, channel_id: str, start: float, end: float) -> list[tuple[float, float]]:
        assert self.index is not None
        return [(s.start_ts, s.end_ts) for s in self.index.segments(channel_id, start, end)]

    def _apply(self, upper: _Upper, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                data = bytes(effect.message)
                if upper.cfg.transport == "udp":
                    self._sendto(data, (effect.host, effect.port))
                else:
                    self._send_tcp(upper, data, (effect.host, effect.port))
            elif isinstance(effect, RegistrationChanged):
                level = logging.INFO if effect.registered else logging.WARNING
                logger.log(level, "platform=%s %s: %s", upper.cfg.id,
                           "registered" if effect.registered else "not registered", effect.reason)
            elif isinstance(effect, ClockOffset) and abs(effect.offset_s) > 1:
                logger.warning("platform=%s clock differs from ours by %.1f s", upper.cfg.id,
                               effect.offset_s)

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.udp is not None
        try:
            self.udp.sendto(data, addr)
        except OSError as exc:  # e.g. the 4G link is down: the transaction times out
            logger.warning("sip: cannot send to %s:%s: %s", *addr, exc)

    def _send_tcp(self, upper: _Upper, data: bytes,
                  addr: tuple[str, int] | None = None) -> None:
        if upper.tcp is None:
            target = addr or (upper.cfg.host, upper.cfg.port)
            try:
                upper.tcp = socket.create_connection(target, TCP_CONNECT_TIMEOUT_S)
            except OSError as exc:
                logger.warning("platform=%s cannot connect %s:%s: %s", upper.cfg.id, *target, exc)
                return
            upper.stream = SipStreamBuffer()
        try:
            upper.tcp.sendall(data)
        except OSError as exc:
            self._drop_tcp(upper, f"send failed: {exc}")

    def _drop_tcp(self, upper: _Upper, reason: str) -> None:
        logger.warning("platform=%s TCP %s", upper.cfg.id, reason)
        if upper.tcp:
            upper.tcp.close()
        upper.tcp = None

    def _unregister(self) -> None:
        """Expires: 0 to every platform, then wait briefly for the answers."""
        now = time.monotonic()
        for upper in self.uppers:
            self._apply(upper, upper.reg.stop(now))
        deadline = now + UNREGISTER_WAIT_S
        while time.monotonic() < deadline and any(
                u.reg.state is State.UNREGISTERING for u in self.uppers):
            self._poll(min(MAX_WAIT_S, max(0.0, deadline - time.monotonic())))


def _local_ip_towards(host: str, port: int) -> str:
    """The local address the kernel would use to reach the platform (for Via/Contact)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, port))  # UDP connect sends nothing
            return str(probe.getsockname()[0])
        except OSError:
            return "0.0.0.0"
