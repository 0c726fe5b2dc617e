"""Hostile or broken ONVIF answers over real sockets: huge, deeply nested, not XML, the
wrong namespace, a SOAP fault, silence. Each is an OnvifError with a message for the
technician (never another exception), and a dome's worker lives on to take the next
command. WS-Discovery replies from strangers are ignored."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from typing import Iterator

import pytest

from edge.onvif import device, discovery
from edge.ptz.ops import named
from edge.ptz.steering import Steering, Target
from edge.sim.server import free_port

ENVELOPE = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            '<s:Body>{}</s:Body></s:Envelope>')
ANSWERS: dict[str, bytes] = {
    "huge": b"<a>" + b"x" * (8 << 20) + b"</a>",
    "nested": ENVELOPE.format("<x>" * 100_000 + "</x>" * 100_000).encode(),
    "not-xml": b"\x00\xffHTTP garbage {json: true}",
    "wrong-namespace": ENVELOPE.replace("soap-envelope", "elsewhere").format(
        "<GetDeviceInformationResponse><Manufacturer>X</Manufacturer>"
        "</GetDeviceInformationResponse>").encode(),
    "fault": ENVELOPE.format('<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>'
                             '<s:Reason><s:Text xml:lang="en">broken</s:Text></s:Reason>'
                             '</s:Fault>').encode(),
    "entity": b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
              b'<a>&e;</a>',
}


class _Hostile(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kind = self.path.strip("/").split("/")[0]
        if kind == "silent":
            time.sleep(8)
            return
        body = ANSWERS[kind]
        self.send_response(200)
        self.send_header("Content-Type", "application/soap+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up on a huge answer


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("kind", [*ANSWERS, "silent"])
def test_a_broken_answer_is_a_clear_error(hostile: str, kind: str) -> None:
    with pytest.raises(device.OnvifError) as err:
        device.read(f"{hostile}/{kind}/onvif/device_service", "admin", "pw", timeout_s=2)
    assert f"{hostile}/{kind}" in str(err.value)


def test_a_domes_worker_survives_broken_answers(hostile: str) -> None:
    errors: list[str] = []
    steering = Steering(lambda cid: Target(cid, f"{hostile}/{cid}/onvif/device_service",
                                           "admin", "pw"),
                        lambda _c, _a, _w, error: errors.append(error or ""))
    for kind in ANSWERS:
        steering.submit(kind, named("left"), "test")
        steering.submit(kind, named("right"), "test")  # the worker took the second one too
    steering.close(wait_s=120)
    assert len(errors) == 2 * len(ANSWERS) and all("127.0.0.1" in e for e in errors), errors


def test_discovery_ignores_strangers_and_garbage() -> None:
    """A unicast probe answered by a stranger whose ProbeMatch points elsewhere, then by
    garbage: nothing is found, nothing raises."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    def answer() -> None:
        _, peer = sock.recvfrom(65_535)
        match = (ENVELOPE.format(
            '<d:ProbeMatches xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
            "<d:ProbeMatch><d:XAddrs>http://10.66.0.9/onvif/device_service</d:XAddrs>"
            "</d:ProbeMatch></d:ProbeMatches>"))
        sock.sendto(match.encode(), peer)
        sock.sendto(b"\xff" * 3000, peer)

    threading.Thread(target=answer, daemon=True).start()
    assert discovery.probe("127.0.0.1", timeout_s=1.5, port=port) == []
    sock.close()
    deep = ENVELOPE.format("<x>" * 7000 + "</x>" * 7000).encode()  # fits a datagram
    assert discovery.matches(deep, "127.0.0.1") == ([], [])
    assert discovery.matches(ANSWERS["nested"], "127.0.0.1")[1] == [
        f"127.0.0.1: reply of {len(ANSWERS['nested'])} bytes ignored"]


def test_kept_tours_that_are_damaged_are_left_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A dome's kept tours and scans (data_dir/ptz/<camera>.json) cut by a power failure or
    edited by hand: what is readable and in range is kept, the rest left out, nothing raises."""
    from edge.ptz.steering import load_routines

    path = tmp_path / "cam.json"
    for damaged in (b"", b"{not json", b"[]", b'{"cruises": 5, "scans": {}}',
                    b"{" + b" " * (70 << 10) + b"}"):
        path.write_bytes(damaged)
        assert load_routines(path, "cam") == ({}, {})
    path.write_text('{"cruises": {"1": {"points": [3, 999, "x", 4], "dwell_s": 10, "speed": 0,'
                    ' "left": null, "right": null}, "٣": {"points": [1], "dwell_s": 1,'
                    ' "speed": 0}}, "scans": {"2": {"points": [], "dwell_s": 5, "speed": 9,'
                    ' "left": -0.5, "right": 7.0}}}')
    cruises, scans = load_routines(path, "cam")
    assert list(cruises) == [1] and cruises[1].points == [3, 4]
    assert scans[2].left == -0.5 and scans[2].right is None
