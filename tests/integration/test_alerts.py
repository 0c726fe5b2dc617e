"""Alerts to real receivers: a local HTTPS server (its own CA) that checks each provider's
documented request and signature (WeChat Work, DingTalk, Feishu, the generic HMAC webhook),
and hostile ones (hangs, 500, megabytes, a redirect elsewhere), against the alert runner
reading a real index; a receiver that is down gets its alerts when it comes back.

Text messages go through a stand-in for ModemManager's ``mmcli`` (no modem and no
ModemManager daemon can run here): a script that keeps the calls and answers as mmcli does.
Web Push goes to the same local HTTPS server acting as a push service (RFC 8030): it
checks the VAPID token and the test decrypts what arrived with the browser's key."""

from __future__ import annotations

import base64
import os
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

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from edge.alerts import runner as alerts_runner
from edge.alerts.runner import AlertRunner
from edge.alerts.devices import PushDevices
from edge.alerts.sms import send_sms
from edge.alerts.store import read_log
from edge.alerts.webpush import Device, b64url, public_bytes, unb64url
from edge.config import EdgeConfig, parse
from edge.record.index import Index
from edge.sim.server import free_port
from edge.web.accounts import Accounts
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
        if path.startswith("/push/"):  # a push service: 201 Created, 410 for a gone browser
            return self._answer(410 if path == "/push/gone" else 201, b"")
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


def _started(cfg: EdgeConfig, stop: threading.Event) -> AlertRunner:
    """The alert runner, once it has taken its first look at the events (from then on)."""
    runner = AlertRunner(cfg, stop)
    runner.start()
    try:
        wait_for(lambda: runner.store is not None and runner.store.cursor("detection")
                 is not None, 10, "the runner's first look")
    except AssertionError:
        stop.set()
        raise
    return runner


def _states(data_dir: Path) -> dict[str, set[str]]:
    """Each receiver's states in the alert log."""
    out: dict[str, set[str]] = {}
    for row in read_log(data_dir, 0, math.inf):
        out.setdefault(row["receiver"], set()).add(row["state"])
    return out


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
    runner = _started(cfg, stop)
    try:
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
        wait_for(lambda: all(len(got(p)) >= 2 for p in ("/hang", "/500", "/huge", "/redirect")),
                 60, "the bad receivers tried again")
        results = {row["receiver"]: row["result"] for row in read_log(cfg.data_dir, 0, math.inf)}
        assert "ReadTimeout" in results["hang"] and "HTTP 500" in results["err"]
        assert "HTTP 302" in results["moved"]
        assert _states(cfg.data_dir)["huge"] == {"queued"}  # an 8-MB answer is not success
        assert runner.is_alive() and runner.crashed is None
        # the receiver that was down gets both, late, once it is up
        assert _states(cfg.data_dir)["down"] == {"queued"}
        time.sleep(1.0)
        lan = serve(outage, None)
        try:
            wait_for(lambda: _states(cfg.data_dir)["down"] == {"sent"}, 60, "the queued alerts delivered")
            late = [json.loads(b)["late_s"] for p, _, b in Receiver.seen
                    if p == "/hook" and b'"late_s"' in b]
            assert max(late) >= 1.0
        finally:
            lan.shutdown()
            lan.server_close()
        assert _states(cfg.data_dir)["运维"] == {"sent"}
    finally:
        stop.set()
        runner.join(10)
        index.close()


MMCLI = """#!/usr/bin/env python3
# stand-in for ModemManager's mmcli: keeps each call, answers as mmcli does
import json, os, sys
args = sys.argv[1:]
with open(os.environ["MMCLI_LOG"], "a") as log:
    log.write(json.dumps(args, ensure_ascii=False) + "\\n")
if any(a.startswith("--messaging-create-sms=") for a in args):
    n = sum(1 for _ in open(os.environ["MMCLI_LOG"]))
    print(f"Successfully created new SMS: /org/freedesktop/ModemManager1/SMS/{n}")
elif "--send" in args and os.environ.get("MMCLI_FAIL"):
    sys.exit("error: couldn't send the SMS: 'GDBus.Error:org.freedesktop.ModemManager1."
             "Error.Core.Timeout: SMS sending timed out'")
elif "--send" in args:
    print("successfully sent the SMS")
else:
    print("successfully deleted SMS from modem")
"""


def _browser(endpoint: str) -> tuple[ec.EllipticCurvePrivateKey, bytes, Device]:
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    return key, auth, Device(endpoint, b64url(public_bytes(key)), b64url(auth))


def _vapid_ok(authorization: str, audience: str) -> bool:
    """The push service's check of the sender's token (RFC 8292)."""
    fields = dict(p.strip().split("=", 1) for p in authorization.split(" ", 1)[1].split(","))
    header, claims, signature = fields["t"].split(".")
    raw = unb64url(signature)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(fields["k"]))
    public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                       int.from_bytes(raw[32:], "big")),
                  f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    sent = json.loads(unb64url(claims))
    return bool(sent["aud"] == audience and sent["exp"] > time.time()
                and sent["sub"] == "mailto:duty@village.example")


def test_text_messages_and_web_push_reach_phones(
        tmp_path: Path, tls: tuple[int, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts_runner, "RETRY_S", 0.5)
    port, cert = tls
    base = f"https://127.0.0.1:{port}"
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "mmcli").write_text(MMCLI)
    (tools / "mmcli").chmod(0o755)
    calls = tmp_path / "mmcli.log"
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setenv("MMCLI_LOG", str(calls))
    cfg = parse({
        "node": {"id": "34020000001180000001", "name": "测试村", "data_dir": str(tmp_path / "d")},
        "cameras": [{"id": CAM, "name": "村口", "url": "rtsp://127.0.0.1:9/a"},
                    {"id": "34020000001320000002", "name": "学校", "url": "rtsp://127.0.0.1:9/b"}],
        "alerts": [{"name": "短信", "type": "sms", "numbers": ["13800138000", "+8613900139000"],
                    "events": ["person"]},
                   {"name": "手机", "type": "webpush", "url": "mailto:duty@village.example",
                    "ca_file": str(cert), "events": ["person"]}]})
    index = Index(cfg.data_dir)
    Accounts.create_schema(index.db)
    accounts = Accounts(index.db)
    devices = PushDevices(index.db)
    zhang = accounts.add("zhang", "duty-officer-1", "operator", cameras=[CAM])
    li = accounts.add("li", "duty-officer-2", "viewer", cameras=["34020000001320000002"])
    phone_key, phone_auth, phone = _browser(f"{base}/push/zhang-phone")
    devices.add(zhang.id, phone, "Android", time.time())
    devices.add(zhang.id, _browser(f"{base}/push/gone")[2], "old laptop", time.time())
    devices.add(li.id, _browser(f"{base}/push/li")[2], "iPhone", time.time())
    stop = threading.Event()
    runner = _started(cfg, stop)
    try:
        index.add_event(CAM, time.time(), "detection", {"label": "person", "zones": []})

        wait_for(lambda: _states(cfg.data_dir).get("短信") == {"sent"} and _states(cfg.data_dir).get("手机") == {"sent"},
                 30, "the text messages and the push sent")
        # each number: the message made, sent, and deleted from the modem again
        made = [json.loads(line) for line in calls.read_text().splitlines()]
        creates = [a[-1] for a in made if a[-1].startswith("--messaging-create-sms=")]
        assert len(creates) == 2 and "number='13800138000'" in creates[0]
        assert "text='【行人】测试村 · 村口" in creates[0] and "+8613900139000" in creates[1]
        assert sum("--send" in a for a in made) == 2
        assert sum(a[-1].startswith("--messaging-delete-sms=") for a in made) == 2
        # Web Push: zhang's phone got it, signed by the box, readable only with its key
        pushed = [(p, h, b) for p, h, b in Receiver.seen if p.startswith("/push/")]
        got = [(h, b) for p, h, b in pushed if p == "/push/zhang-phone"]
        assert len(got) == 1
        headers, body = got[0]
        assert headers["Content-Encoding"] == "aes128gcm"
        assert _vapid_ok(headers["Authorization"], base)
        shown = json.loads(http_ece.decrypt(body, private_key=phone_key, auth_secret=phone_auth))
        assert shown["title"] == "【行人】测试村 · 村口" and "playback" in shown["url"]
        # the browser that went away (410) is forgotten; li may not see 村口: nothing for li
        assert [p for p, _, _ in pushed if p == "/push/gone"] and not [
            p for p, _, _ in pushed if p == "/push/li"]
        left = {s.device.endpoint.rsplit("/", 1)[1]: s.result for s in devices.listed()}
        assert set(left) == {"zhang-phone", "li"} and left["zhang-phone"] == "HTTP 201"
        # a send the network refuses: kept for another try, mmcli's reason in the log
        monkeypatch.setenv("MMCLI_FAIL", "1")
        index.add_event(CAM, time.time(), "detection", {"label": "person", "zones": []})
        wait_for(lambda: any(r["receiver"] == "短信" and "Timeout" in (r["result"] or "")
                             for r in read_log(cfg.data_dir, 0, math.inf)), 30,
                 "the failed send in the log")
        assert "queued" in _states(cfg.data_dir)["短信"] and runner.is_alive() and runner.crashed is None
    finally:
        stop.set()
        runner.join(10)
        index.close()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # a box without ModemManager
    ok, result = send_sms(("13800138000",), "测试")
    assert not ok and "no ModemManager" in result
