"""Alerts to real receivers: a local HTTPS server (its own CA) that checks each provider's
documented request and signature (WeChat Work, DingTalk, Feishu, the generic HMAC webhook),
and hostile ones (hangs, 500, megabytes, a redirect elsewhere), against the alert runner
reading a real index; a receiver that is down gets its alerts when it comes back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import math
import ssl
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Iterator

import pytest

from edge.alerts import runner as alerts_runner
from edge.alerts.runner import AlertRunner
from edge.alerts.store import read_log
from edge.config import parse
from edge.record.index import Index
from edge.sim.server import free_port
from tests.conftest import wait_for

CAM = "34020000001320000001"
SECRET = "SEC-值班"


class Receiver(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = urllib.parse.urlsplit(self.path).path
        Receiver.seen.append((self.path, dict(self.headers), body))
        if path == "/hang":
            time.sleep(5)
        if path == "/500":
            return self._answer(500, b"internal error")
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "https://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/huge":
            return self._answer(200, b"{" + b" " * (8 << 20) + b"}")
        self._answer(200, b'{"errcode": 0, "errmsg": "ok"}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def serve(port: int, context: ssl.SSLContext | None) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    port = free_port()
    server = serve(port, context)
    Receiver.seen = []
    yield port, cert
    server.shutdown()
    server.server_close()


def test_alerts_reach_each_receiver_signed_and_survive_bad_ones(
        tmp_path: Path, tls: tuple[int, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts_runner, "TIMEOUT_S", 2.0)
    monkeypatch.setattr(alerts_runner, "RETRY_S", 0.5)
    port, cert = tls
    base = f"https://127.0.0.1:{port}"
    outage = free_port()  # a LAN receiver that is down at first
    receivers = [("企业微信", "wecom", f"{base}/wecom?key=K"),
                 ("钉钉", "dingtalk", f"{base}/dingtalk?access_token=T"),
                 ("飞书", "feishu", f"{base}/feishu"), ("运维", "webhook", f"{base}/hook"),
                 ("hang", "webhook", f"{base}/hang"), ("err", "webhook", f"{base}/500"),
                 ("huge", "webhook", f"{base}/huge"), ("moved", "webhook", f"{base}/redirect")]
    cfg = parse({
        "node": {"id": "34020000001180000001", "name": "测试村", "data_dir": str(tmp_path / "d")},
        "cameras": [{"id": CAM, "name": "村口", "url": "rtsp://127.0.0.1:9/a"}],
        "alerts": [{"name": n, "type": t, "url": u, "secret": SECRET, "ca_file": str(cert)}
                   for n, t, u in receivers]
                  + [{"name": "down", "type": "webhook", "url": f"http://127.0.0.1:{outage}/hook",
                      "secret": SECRET}]})
    index = Index(cfg.data_dir)
    stop = threading.Event()
    runner = AlertRunner(cfg, stop)
    runner.start()
    try:
        wait_for(lambda: runner.store is not None and runner.store.cursor("detection")
                 is not None, 10, "the runner's first look")
        picture = Path("snapshots") / "p.jpg"
        (cfg.data_dir / picture).parent.mkdir(parents=True, exist_ok=True)
        (cfg.data_dir / picture).write_bytes(b"\xff\xd8frame\xff\xd9")
        (cfg.data_dir / picture.with_suffix(".crop.jpg")).write_bytes(b"\xff\xd8crop\xff\xd9")
        happened = time.time()
        index.add_event(CAM, happened, "detection", {"label": "person", "zones": []},
                        str(picture))
        index.add_event(CAM, happened, "camera_offline", {"last_error": "timeout"})

        def got(path: str) -> list[tuple[str, dict[str, str], bytes]]:
            return [s for s in Receiver.seen if urllib.parse.urlsplit(s[0]).path == path]

        wait_for(lambda: all(len(got(p)) >= 2 for p in ("/dingtalk", "/feishu", "/hook")),
                 30, "both alerts at every good receiver")
        # DingTalk: timestamp and sign in the URL, as its robot checks them
        for path, _, body in got("/dingtalk"):
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            ts = q["timestamp"][0]
            mac = hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256)
            assert q["sign"][0] == base64.b64encode(mac.digest()).decode()
            assert abs(int(ts) / 1000 - time.time()) < 60
            assert json.loads(body)["msgtype"] == "markdown"
        for _, _, body in got("/feishu"):
            sent = json.loads(body)
            key = f"{sent['timestamp']}\n{SECRET}".encode()
            assert sent["sign"] == base64.b64encode(
                hmac.new(key, b"", hashlib.sha256).digest()).decode()
        kinds = set()
        for _, headers, body in got("/hook"):
            mac = hmac.new(SECRET.encode(), headers["X-Edge-Timestamp"].encode() + b"." + body,
                           hashlib.sha256).hexdigest()
            assert headers["X-Edge-Signature"] == "sha256=" + mac
            sent = json.loads(body)
            kinds.add(sent["kind"])
            if sent["kind"] == "person":  # the crop, the first picture, at once
                assert base64.b64decode(sent["picture_jpeg_base64"]) == b"\xff\xd8crop\xff\xd9"
                assert sent["camera"] == {"id": CAM, "name": "村口"} and "playback" in sent["link"]
        assert kinds == {"person", "camera_offline"}
        wait_for(lambda: len(got("/wecom")) >= 3, 20, "WeChat Work: two texts and a picture")
        image = [json.loads(b) for _, _, b in got("/wecom") if b'"image"' in b]
        assert base64.b64decode(image[0]["image"]["base64"]) == b"\xff\xd8crop\xff\xd9"

        # the bad receivers: each attempt bounded, kept for another try, the reason logged
        def states() -> dict[str, set[str]]:
            out: dict[str, set[str]] = {}
            for row in read_log(cfg.data_dir, 0, math.inf):
                out.setdefault(row["receiver"], set()).add(row["state"])
            return out

        wait_for(lambda: all(len(got(p)) >= 2 for p in ("/hang", "/500", "/huge", "/redirect")),
                 60, "the bad receivers tried again")
        results = {row["receiver"]: row["result"] for row in read_log(cfg.data_dir, 0, math.inf)}
        assert "ReadTimeout" in results["hang"] and "HTTP 500" in results["err"]
        assert "HTTP 302" in results["moved"]
        assert states()["huge"] == {"queued"}  # an 8-MB answer is not success
        assert runner.is_alive() and runner.crashed is None
        # the receiver that was down gets both, late, once it is up
        assert states()["down"] == {"queued"}
        time.sleep(1.0)
        lan = serve(outage, None)
        try:
            wait_for(lambda: states()["down"] == {"sent"}, 60, "the queued alerts delivered")
            late = [json.loads(b)["late_s"] for p, _, b in Receiver.seen
                    if p == "/hook" and b'"late_s"' in b]
            assert max(late) >= 1.0
        finally:
            lan.shutdown()
            lan.server_close()
        assert states()["运维"] == {"sent"}
    finally:
        stop.set()
        runner.join(10)
        index.close()
