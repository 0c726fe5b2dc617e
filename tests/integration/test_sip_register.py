"""The SIP runner against a scripted upper platform on real UDP and TCP sockets.

The platform is a few lines of test code using edge's own pure SIP parser: it challenges,
checks the digest, grants, answers keepalives, sends a query, and sees the unregister.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from edge.config import parse as parse_config
from edge.gb28181.manscdp import parse_body, render
from edge.gb28181.runner import SipRunner
from edge.gb28181.sip.digest import digest_response, parse_challenge
from edge.gb28181.sip.framing import SipStreamBuffer
from edge.gb28181.sip.message import SipRequest, SipResponse, parse, response_to, with_header
from edge.sim.server import free_port

SERVER = "34020000002000000001"
NODE = "34020000001180000001"
PASSWORD = "12345678"
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
            self.stream.feed(self.conn.recv(65_535))
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

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.sock.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_keepalive_query_and_unregister(transport: str, tmp_path: Path) -> None:
    platform = ScriptedPlatform(transport)
    cfg = parse_config({
        "node": {"id": NODE, "data_dir": str(tmp_path), "sip_port": free_port()},
        "platforms": [{"id": SERVER, "host": "127.0.0.1", "port": platform.port,
                       "transport": transport, "password": PASSWORD, "keepalive_interval": 5}],
    })
    stop = threading.Event()
    runner = SipRunner(cfg, stop)
    runner.start()
    try:
        first = platform.request("REGISTER")
        assert first.header("Authorization") is None
        platform.send(with_header(response_to(first, 401, "Unauthorized", "t1"),
                                  "WWW-Authenticate", CHALLENGE))
        second = platform.request("REGISTER")
        auth = second.header("Authorization") or ""
        expected = digest_response(parse_challenge(CHALLENGE), NODE, PASSWORD, "REGISTER", second.uri)
        assert f'response="{expected}"' in auth, "the platform must be able to verify the digest"
        assert second.header("Call-ID") == first.header("Call-ID")
        ok = with_header(response_to(second, 200, "OK", "t1"), "Expires", "3600")
        platform.send(with_header(ok, "Date", "2026-11-22T12:00:00.000"))
        keepalive = platform.request("MESSAGE")
        body = parse_body(keepalive.body)
        assert (body.cmd_type, body.device_id) == ("Keepalive", NODE)
        platform.send(response_to(keepalive, 200, "OK", "t2"))
        # the platform asks something: the node must answer 200 OK at once
        query = SipRequest("MESSAGE", f"sip:{NODE}@3402000000", (
            ("Via", f"SIP/2.0/{transport.upper()} 127.0.0.1:{platform.port};branch=z9hG4bKq1"),
            ("From", f"<sip:{SERVER}@3402000000>;tag=p1"), ("To", f"<sip:{NODE}@3402000000>"),
            ("Call-ID", "query-1"), ("CSeq", "1 MESSAGE"),
            ("Content-Type", "Application/MANSCDP+xml")),
            render("Query", "Catalog", 1, NODE))
        platform.send(query)
        while True:
            answer = platform.receive()
            if isinstance(answer, SipResponse):
                break
        assert answer.status == 200 and answer.header("Call-ID") == "query-1"
        state = runner.status()[0]
        assert state["registered"] and state["last_keepalive_ok"] is not None
        assert state["clock_offset_s"] is not None
    finally:
        stop.set()
    bye = platform.request("REGISTER")
    assert bye.header("Expires") == "0"
    platform.send(response_to(bye, 200, "OK", "t1"))
    runner.join(10)
    assert not runner.is_alive()
    assert runner.status()[0]["state"] == "stopped"
    platform.close()
