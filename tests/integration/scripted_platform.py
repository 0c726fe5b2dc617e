"""A scripted upper platform for the GB/T 28181 tests: a few lines of test code using
edge's own pure SIP parser. It challenges, checks the digest, grants, answers, asks
queries (each result a MESSAGE of the node's own) and records what arrives."""

from __future__ import annotations

import socket
import threading
import time

from edge.errors import ProtocolError
from edge.gb28181.manscdp import ManscdpMessage, parse_body, render
from edge.digest import digest_response, parse_challenge
from edge.gb28181.sip.framing import SipStreamBuffer
from edge.gb28181.sip.message import SipRequest, SipResponse, parse, response_to, with_header

SERVER = "34020000002000000001"
NODE = "34020000001180000001"
PASSWORD = "12345678"
SSRC = "0200000001"  # y= of the media INVITEs
CHALLENGE = 'Digest realm="3402000000", nonce="f00d", algorithm=MD5'


class ScriptedPlatform:
    """Receives requests from the node over UDP or TCP; replies are sent explicitly."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conn: socket.socket | None = None
        self.peer: tuple[str, int] | None = None
        self.stream = SipStreamBuffer()
        if transport == "tcp":
            self.sock.listen(1)

    def receive(self, timeout: float = 10.0) -> SipRequest | SipResponse:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.transport == "udp":
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                data, self.peer = self.sock.recvfrom(65_535)
                return parse(data)
            if self.conn is None:
                self.sock.settimeout(timeout)
                self.conn, _ = self.sock.accept()
            if (msg := self.stream.next_message()) is not None:
                return msg
            self.conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.conn.recv(65_535)
            except ConnectionResetError:  # the node closed with our bytes unread
                data = b""
            if not data:  # the node dropped the connection; it connects again to send
                self.conn.close()
                self.conn, self.stream = None, SipStreamBuffer()
            self.stream.feed(data)
        raise AssertionError("the node sent nothing")

    def request(self, method: str) -> SipRequest:
        """The next request of ``method``, skipping retransmits and other traffic."""
        while True:
            msg = self.receive()
            if isinstance(msg, SipRequest) and msg.method == method:
                return msg

    def send(self, msg: SipRequest | SipResponse) -> None:
        if self.transport == "udp":
            assert self.peer is not None
            self.sock.sendto(bytes(msg), self.peer)
        else:
            assert self.conn is not None
            self.conn.sendall(bytes(msg))

    def ask(self, request: SipRequest) -> ManscdpMessage:
        """Send a query; expect 200 OK, then the answer as a MESSAGE with the same SN."""
        self.send(request)
        sn = parse_body(request.body).sn
        while True:
            msg = self.receive()
            if isinstance(msg, SipResponse):
                assert msg.status == 200 and msg.header("Call-ID") == request.header("Call-ID")
                continue
            self.send(response_to(msg, 200, "OK", "p2"))
            body = parse_body(msg.body)
            if body.root == "Response" and body.sn == sn:
                return body

    def ask_list(self, request: SipRequest, list_tag: str = "DeviceList"
                 ) -> list[ManscdpMessage]:
        """A query answered in packets (a catalog is split to fit datagrams): every packet,
        until their items add up to SumNum."""
        packets = [self.ask(request)]
        total = int(packets[0].fields["SumNum"])

        def items() -> int:
            return sum(len(p.element.findall(f"{list_tag}/Item")) for p in packets)

        while items() < total:
            msg = self.receive()
            if isinstance(msg, SipResponse):
                continue
            self.send(response_to(msg, 200, "OK", "p2"))
            body = parse_body(msg.body)
            if body.root == "Response" and body.sn == packets[0].sn:
                packets.append(body)
        return packets

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.sock.close()


def query(transport: str, port: int, cmd: str, target: str, sn: int,
          fields: list[tuple[str, str]] = (), root: str = "Query", inner: str = "",
          server: str = SERVER) -> SipRequest:
    return SipRequest("MESSAGE", f"sip:{NODE}@3402000000", (
        ("Via", f"SIP/2.0/{transport.upper()} 127.0.0.1:{port};branch=z9hG4bK{sn}"),
        ("From", f"<sip:{server}@3402000000>;tag=p{sn}"), ("To", f"<sip:{NODE}@3402000000>"),
        ("Call-ID", f"query-{sn}"), ("CSeq", f"{sn} MESSAGE"),
        ("Content-Type", "Application/MANSCDP+xml")), render(root, cmd, sn, target, fields, inner))


def register(platform: ScriptedPlatform, password: str = PASSWORD,
             username: str = NODE, seen_as: str = "") -> SipRequest:
    """Challenge, verify the digest and grant; return the authenticated REGISTER.
    ``seen_as``: the address written into its Via (``received=``), as from behind a NAT."""
    first = platform.request("REGISTER")
    platform.send(with_header(response_to(first, 401, "Unauthorized", "t1"),
                              "WWW-Authenticate", CHALLENGE))
    second = platform.request("REGISTER")
    expected = digest_response(parse_challenge(CHALLENGE), username, password, "REGISTER",
                               second.uri)
    assert f'response="{expected}"' in (second.header("Authorization") or "")
    granted = with_header(response_to(second, 200, "OK", "t1"), "Expires", "3600")
    if seen_as:
        granted = SipResponse(granted.status, granted.reason, tuple(
            (k, v.replace(";rport", f";rport=5060;received={seen_as}", 1) if k == "Via" else v)
            for k, v in granted.headers), granted.body)
    platform.send(granted)
    return second


def expect(platform: ScriptedPlatform, method: str, cmd_type: str,
           timeout: float = 10.0) -> tuple[SipRequest, ManscdpMessage]:
    """The next ``method`` request carrying ``cmd_type``; every request is answered 200 OK."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = platform.receive(max(0.01, deadline - time.monotonic()))
        if isinstance(msg, SipResponse):
            continue
        platform.send(response_to(msg, 200, "OK", "p9"))
        if msg.method == method and msg.body:
            body = parse_body(msg.body)
            if body.cmd_type == cmd_type:
                return msg, body
    raise AssertionError(f"no {method} {cmd_type} from the node")


def subscribe(transport: str, port: int, event: str, expires: int, call_id: str) -> SipRequest:
    return SipRequest("SUBSCRIBE", f"sip:{NODE}@3402000000", (
        ("Via", f"SIP/2.0/{transport.upper()} 127.0.0.1:{port};branch=z9hG4bK{call_id}{expires}"),
        ("From", f"<sip:{SERVER}@3402000000>;tag=s-{call_id}"),
        ("To", f"<sip:{NODE}@3402000000>"), ("Call-ID", call_id),
        ("CSeq", f"{expires + 1} SUBSCRIBE"), ("Contact", f"<sip:{SERVER}@127.0.0.1:{port}>"),
        ("Event", event), ("Expires", str(expires)),
        ("Content-Type", "Application/MANSCDP+xml")),
        render("Query", event.split(";")[0].replace("presence", "Alarm"), 1, NODE))


# -- media INVITE dialogs (issue 4) ------------------------------------------------

def offer(transport: str, port: int, kind: str = "Play") -> bytes:
    proto = "RTP/AVP" if transport == "udp" else "TCP/RTP/AVP"
    lines = ["v=0", f"o={SERVER} 0 0 IN IP4 127.0.0.1", f"s={kind}", "c=IN IP4 127.0.0.1",
             "t=0 0", f"m=video {port} {proto} 96 98 99", "a=recvonly", "a=rtpmap:96 PS/90000",
             "a=rtpmap:98 H264/90000", "a=rtpmap:99 H265/90000"]
    if transport == "tcp-listen":  # the platform listens: it is passive, we connect
        lines += ["a=setup:passive", "a=connection:new"]
    elif transport == "tcp-connect":  # the platform connects: we listen
        lines += ["a=setup:active", "a=connection:new"]
    lines += [f"y={SSRC}", "f="]
    return ("\r\n".join(lines) + "\r\n").encode()


def invite(platform: ScriptedPlatform, channel: str, body: bytes, call_id: str) -> SipRequest:
    return SipRequest("INVITE", f"sip:{channel}@3402000000", (
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{platform.port};branch=z9hG4bK{call_id}"),
        ("From", f"<sip:{SERVER}@3402000000>;tag=inv-{call_id}"),
        ("To", f"<sip:{channel}@3402000000>"), ("Call-ID", call_id), ("CSeq", "1 INVITE"),
        ("Contact", f"<sip:{SERVER}@127.0.0.1:{platform.port}>"),
        ("Subject", f"{channel}:{SSRC},{SERVER}:0"), ("Content-Type", "APPLICATION/SDP")), body)


def in_dialog(method: str, request: SipRequest, ok: SipResponse, cseq: int) -> SipRequest:
    headers = [(k, v) for k, v in request.headers if k not in ("CSeq", "To", "Content-Type")]
    return SipRequest(method, request.uri, tuple(headers) + (
        ("To", ok.header("To") or ""), ("CSeq", f"{cseq} {method}")))


def final_response(platform: ScriptedPlatform, call_id: str) -> tuple[SipResponse, bool]:
    """The final answer to our INVITE; whether a 100 Trying came first."""
    trying = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        msg = platform.receive()
        if isinstance(msg, SipResponse) and msg.header("Call-ID") == call_id:
            if msg.status == 100:
                trying = True
                continue
            return msg, trying
        if isinstance(msg, SipRequest):
            platform.send(response_to(msg, 200, "OK", "k"))  # keepalives
    raise AssertionError(f"no final response for {call_id}")


class AnsweringPlatform(threading.Thread):
    """An upper platform that runs by itself over UDP: challenges every new REGISTER,
    grants, answers every request 200 OK, learns the node's address from each datagram
    (as WVP does) and can ask queries the way a platform does over UDP, retransmitting
    them until the 200 OK. ``silent`` makes it stop answering, like a platform that went
    away."""

    def __init__(self, server_id: str = SERVER) -> None:
        super().__init__(daemon=True)
        self.server_id = server_id
        self.sip = ScriptedPlatform("udp")
        self.stop_event = threading.Event()
        self.silent = False
        self.registrations: list[float] = []  # wall times of granted REGISTERs
        self.requests: list[tuple[float, SipRequest, tuple[str, int]]] = []  # all, retransmits too
        self.answers: dict[int, list[tuple[str, ManscdpMessage]]] = {}  # SN -> (Call-ID, answer)
        self._acked: set[str] = set()  # Call-IDs of our queries the node answered
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.sip.port

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                msg = self.sip.receive(0.5)
            except (AssertionError, TimeoutError, OSError, ProtocolError):
                continue
            with self._lock:
                if isinstance(msg, SipResponse):
                    self._acked.add(msg.header("Call-ID") or "")
                    continue
                assert self.sip.peer is not None
                self.requests.append((time.time(), msg, self.sip.peer))
            if not self.silent:
                self._answer(msg)

    def _answer(self, msg: SipRequest) -> None:
        if msg.method == "REGISTER" and not msg.header("Authorization"):
            self.sip.send(self._seen(with_header(response_to(msg, 401, "Unauthorized", "t1"),
                                                 "WWW-Authenticate", CHALLENGE)))
            return
        answer = self._seen(response_to(msg, 200, "OK", "t1"))
        if msg.method == "REGISTER":
            answer = with_header(answer, "Expires", msg.header("Expires") or "3600")
            if msg.header("Expires") != "0":
                self.registrations.append(time.time())
        self.sip.send(answer)
        if msg.method == "MESSAGE" and msg.body:
            try:
                body = parse_body(msg.body)
            except ProtocolError:
                return
            if body.root == "Response":
                with self._lock:
                    self.answers.setdefault(body.sn, []).append((msg.header("Call-ID") or "",
                                                                 body))

    def _seen(self, response: SipResponse) -> SipResponse:
        """Where the request came from, written into its Via (RFC 3581), as WVP does."""
        assert self.sip.peer is not None
        host, port = self.sip.peer
        headers = tuple((k, v.replace(";rport", f";rport={port};received={host}", 1)
                         if k == "Via" and ";rport=" not in v else v)
                        for k, v in response.headers)
        return SipResponse(response.status, response.reason, headers, response.body)

    def keepalives(self) -> list[tuple[float, SipRequest, tuple[str, int]]]:
        with self._lock:
            return [r for r in self.requests
                    if r[1].method == "MESSAGE" and b"<CmdType>Keepalive" in r[1].body]

    def ask(self, cmd: str, target: str, sn: int, timeout: float = 30.0,
            fields: list[tuple[str, str]] = ()) -> ManscdpMessage:
        """A query over UDP, retransmitted at T1 doubling to T2 until the node's 200 OK
        (RFC 3261 17.1.2.2); then its answer MESSAGE. AssertionError on timeout."""
        request = query("udp", self.port, cmd, target, sn, fields, server=self.server_id)
        call_id = request.header("Call-ID") or ""
        deadline = time.monotonic() + timeout
        interval, resend_at = 0.5, 0.0
        while time.monotonic() < deadline:
            with self._lock:
                acked, answer = call_id in self._acked, self.answers.get(sn)
            if answer:
                return answer[0][1]
            if not acked and time.monotonic() >= resend_at and self.sip.peer is not None:
                self.sip.send(request)
                resend_at, interval = time.monotonic() + interval, min(interval * 2, 4.0)
            time.sleep(0.02)
        raise AssertionError(f"no answer to {cmd} (SN {sn}) within {timeout} s")

    def close(self) -> None:
        self.stop_event.set()
        self.join(5)
        self.sip.close()
