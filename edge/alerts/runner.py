"""Runner: events to the duty officer's phone. Every second it reads the index's new
events (detections, a camera going offline, alarms raised), turns each into an alert for
every receiver that wants it (its kinds, its cameras, its quiet hours, its rate limit) and
keeps them in a queue on disk (``data_dir/alerts.db``), then sends what is due.

Receivers: robots and webhooks (a POST each), text messages through the box's modem
(edge/alerts/sms.py), and the browsers and phones that asked for notifications (Web Push,
edge/alerts/webpush.py; a device its push service says is gone is forgotten).

Store and forward, like the MQTT outbox: an alert raised during a 4G outage stays queued
and is sent when the link returns, marked late; each attempt and its answer is kept (the
alert log). A receiver that hangs, answers 500 or megabytes, or redirects costs one
bounded attempt and a retry later, never the loop. Over the month's data budget pictures
are left out, text still goes.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import httpx

from edge.alerts.formats import Alert, push_payload, render, sms_text
from edge.alerts.devices import PushDevices
from edge.alerts.mapping import SOURCES, classify
from edge.alerts.policy import Limiter
from edge.alerts.sms import send_sms
from edge.alerts.store import AlertStore
from edge.alerts.webpush import PushError, encrypt, request_headers, vapid_key
from edge.config import AlertConfig, EdgeConfig, read_secret
from edge.log import redact
from edge.record.index import Index
from edge.runner import Runner, survive
from edge.timeranges import in_ranges
from edge.uplink.meter import METER

logger = logging.getLogger(__name__)

TURN_S = 1.0
TIMEOUT_S = 10.0
MAX_ANSWER = 64 * 1024  # a receiver's answer read at most this far
RETRY_S = 10.0  # the first retry; doubling to 10 minutes
GIVE_UP_S = 24 * 3600.0  # a queued alert older than this is not sent any more


class AlertRunner(Runner):
    stale_after_s = 60.0  # a send is bounded by TIMEOUT_S per request

    def __init__(self, cfg: EdgeConfig, stop: threading.Event,
                 restricted: Callable[[], bool] = lambda: False) -> None:
        super().__init__("alerts", stop)
        self.cfg = cfg
        self.restricted = restricted  # the SIM's month is spent: no pictures
        self.receivers = {a.name: a for a in cfg.alerts if a.enabled}
        self.secrets = {a.name: read_secret(a.secret, a.secret_file)
                        for a in self.receivers.values()}
        self.limiters = {a.name: Limiter(a.max_per_10min) for a in self.receivers.values()}
        self.link_base = _link_base(cfg)
        self.store: AlertStore | None = None

    def loop(self) -> None:
        self.store = AlertStore(self.cfg.data_dir)
        index = Index(self.cfg.data_dir)
        try:
            while not self.stop_event.is_set():
                self.beat()
                now = time.time()
                with survive(logger, "alerts: reading events"):
                    self._collect(index, now)
                self._send_due(now)
                self.store.trim(now)
                self.stop_event.wait(TURN_S)
        finally:
            index.close()
            self.store.close()

    # -- events to queued alerts -----------------------------------------------------

    def _collect(self, index: Index, now: float) -> None:
        assert self.store is not None
        for source in SOURCES:
            cursor = self.store.cursor(source)
            if cursor is None:  # the first run: from now on, not the whole history
                newest = index.db.execute("SELECT MAX(id) FROM events").fetchone()[0]
                self.store.set_cursor(source, int(newest or 0))
                continue
            for event in index.events_after(cursor, [source]):
                with survive(logger, "alerts: event %s of camera=%s", event.id,
                             event.channel_id):
                    self._alert(event.id, event.kind, event.channel_id, event.ts,
                                event.data, event.snapshot_path, now)
                cursor = event.id
            self.store.set_cursor(source, cursor)

    def _alert(self, event_id: int, kind: str, channel: str, ts: float,
               data: dict[str, Any], snapshot: str | None, now: float) -> None:
        assert self.store is not None
        found = classify(kind, channel, data, self.cfg)
        if found is None:
            return
        alert_kind, text, rule = found
        camera = self.cfg.camera(channel)
        tz = ZoneInfo(self.cfg.node.timezone)
        local = datetime.fromtimestamp(ts, tz)
        alert = {"kind": alert_kind, "camera_id": channel,
                 "camera_name": camera.name if camera else channel, "ts": ts,
                 "local_time": local.strftime("%Y-%m-%d %H:%M:%S"), "text": text,
                 "node_name": self.cfg.node.name, "rule": rule, "event_id": event_id,
                 "link": f"{self.link_base}playback?channel={channel}&day="
                         f"{local:%Y-%m-%d}&at={local:%H:%M:%S}" if camera else ""}
        picture = None
        if snapshot:
            crop = Path(snapshot).with_suffix(".crop.jpg")
            picture = str(crop if (self.cfg.data_dir / crop).exists() else snapshot)
        wall = datetime.fromtimestamp(now, tz)
        for name, receiver in self.receivers.items():
            if alert_kind not in receiver.events or (receiver.cameras
                                                     and channel not in receiver.cameras):
                continue
            if in_ranges(receiver.quiet, wall):
                state, more = "quiet", 0
            else:
                send, more = self.limiters[name].admit(f"{alert_kind}/{channel}/{rule}", now)
                state = "queued" if send else "folded"
            self.store.add(name, {**alert, "more": more},
                           picture if receiver.pictures else None, state, now)
            logger.info("alerts: receiver=%s camera=%s %s %s", name, channel, alert_kind, state)

    # -- sending -----------------------------------------------------------------------

    def _send_due(self, now: float) -> None:
        assert self.store is not None
        for row_id, name, created, fields, picture, attempts in self.store.due(now):
            receiver = self.receivers.get(name)
            if receiver is None or now - created > GIVE_UP_S:
                self.store.attempted(row_id, "failed", "receiver gone or too late", 0, now)
                continue
            with survive(logger, "alerts: receiver=%s alert %s", name, row_id):
                ok, result = self._deliver(receiver, fields, picture, now)
                if ok:
                    self.store.attempted(row_id, "sent", result, 0, now)
                else:
                    retry = now + min(600.0, RETRY_S * 2 ** min(attempts, 6))
                    self.store.attempted(row_id, "queued", result, retry, now)
                    logger.warning("alerts: receiver=%s alert %s not delivered (%s); again at "
                                   "+%.0f s", name, row_id, result, retry - now)

    def _deliver(self, receiver: AlertConfig, fields: dict[str, Any], picture: str | None,
                 now: float) -> tuple[bool, str]:
        data = None
        if picture and not self.restricted():  # over the budget pictures go first
            try:
                data = (self.cfg.data_dir / picture).read_bytes()
            except OSError:
                data = None  # retention took it: the text still goes
        alert = Alert(**fields, picture=data, late_s=max(0.0, now - float(fields["ts"])))
        return deliver(self.cfg, receiver, self.secrets[receiver.name], alert, now)


def deliver(cfg: EdgeConfig, receiver: AlertConfig, secret: str, alert: Alert, now: float
            ) -> tuple[bool, str]:
    """Every request of one alert (a robot takes the picture as a message of its own),
    stopping at the first that fails; the answers."""
    if receiver.type == "sms":
        return send_sms(receiver.numbers, sms_text(alert))
    if receiver.type == "webpush":
        return push(cfg, receiver, alert, now)
    results = []
    for request in render(receiver.type, receiver.url, secret, alert, now):
        ok, result = send(request.url, request.body, request.headers, receiver.ca_file)
        results.append(result)
        if not ok:
            return False, "; ".join(results)
    return True, "; ".join(results)


def send_test_alert(cfg: EdgeConfig, receiver: AlertConfig, by: str, now: float
                    ) -> tuple[bool, str]:
    """A test alert to ``receiver`` now (the settings page's button), not queued: the
    remote's answer is what the technician wants to see."""
    local = datetime.fromtimestamp(now, ZoneInfo(cfg.node.timezone))
    alert = Alert("test", cfg.node.id, cfg.node.name or cfg.node.id, now,
                  local.strftime("%Y-%m-%d %H:%M:%S"),
                  f"测试告警, 由 {by} 发送: 收到即表示推送正常 test alert sent by {by}: "
                  "receiving it means alerts reach you", cfg.node.name)
    return deliver(cfg, receiver, read_secret(receiver.secret, receiver.secret_file), alert,
                   now)


def push(cfg: EdgeConfig, receiver: AlertConfig, alert: Alert, now: float) -> tuple[bool, str]:
    """The alert to every device subscribed by the receiver's users that may see its
    camera (a node-wide alert: those who see every camera). Done when no device failed;
    a device whose push service answers 404/410 unsubscribed and is forgotten."""
    key = vapid_key(cfg.data_dir)
    payload = push_payload(alert)
    index = Index(cfg.data_dir, schema=False)
    try:
        devices = PushDevices(index.db)
        targets = [s.device for s in devices.listed()
                   if (not receiver.users or s.device.user in receiver.users)
                   and (alert.kind == "test" or (s.sees(alert.camera_id)
                        if cfg.camera(alert.camera_id) else s.cameras is None))]
        if not targets:
            return False, "没有设备订阅 no device has asked for notifications"
        results, failed = [], False
        for device in targets:
            try:
                body = encrypt(device, payload)
                status, answer = post(device.endpoint, body,
                                      request_headers(key, device.endpoint, now, receiver.url),
                                      receiver.ca_file)
            except PushError as exc:
                status, answer = 0, str(exc).encode()
            except (httpx.HTTPError, OSError) as exc:
                status, answer = -1, f"{type(exc).__name__}: {redact(str(exc))}".encode()
            result = f"HTTP {status}" if status > 0 else answer.decode("utf-8", "replace")
            if status in (404, 410) or status == 0:  # unsubscribed, or keys we cannot use
                devices.remove(device.endpoint)
                result += " (设备已退订 device gone: forgotten)"
            elif not 200 <= status < 300:
                failed = True
                result += ": " + answer[:100].decode("utf-8", "replace")
            devices.answered(device.endpoint, result)
            results.append(f"{device.user}: {result}")
        return not failed, "; ".join(results)[:300]
    finally:
        index.close()


def post(url: str, body: bytes, headers: dict[str, str], ca_file: str = ""
         ) -> tuple[int, bytes]:
    """One POST, bounded: no redirects followed, the answer read to MAX_ANSWER and one
    byte more; raises httpx.HTTPError or OSError (a CA file unreadable, TLS)."""
    verify: Any = ssl.create_default_context(cafile=ca_file) if ca_file else True
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, verify=verify) as client:
        with client.stream("POST", url, content=body, headers=headers) as response:
            answer = b""
            for chunk in response.iter_bytes():
                answer += chunk
                if len(answer) > MAX_ANSWER:
                    break
            METER.add("other", len(body), len(answer))  # the budget counts alerts
    return response.status_code, answer


def send(url: str, body: bytes, headers: dict[str, str], ca_file: str = "") -> tuple[bool, str]:
    """One POST to a robot or webhook; its JSON answer must say success (errcode/code 0)."""
    try:
        status, answer = post(url, body, headers, ca_file)
    except (httpx.HTTPError, OSError) as exc:
        return False, f"{type(exc).__name__}: {redact(str(exc))}"[:300]
    text = answer[:300].decode("utf-8", "replace")
    if len(answer) > MAX_ANSWER:  # no robot answers that much: not the receiver meant
        return False, f"HTTP {status}: an answer over {MAX_ANSWER >> 10} KB"
    if not 200 <= status < 300:
        return False, f"HTTP {status}: {text}"
    try:
        reply = json.loads(answer) if answer.strip().startswith(b"{") else {}
    except ValueError:
        reply = {}
    code = reply.get("errcode", reply.get("code", reply.get("StatusCode", 0)))
    if code not in (0, None, "0"):
        return False, f"HTTP {status}, refused: {text}"
    return True, f"HTTP {status}: {text[:100]}"


def _link_base(cfg: EdgeConfig) -> str:
    """The web UI as a phone on the LAN or VPN reaches it: the box's address on its way out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))  # UDP connect sends nothing
            host = str(probe.getsockname()[0])
        except OSError:
            host = "127.0.0.1"
    scheme = "https" if cfg.web.tls_cert else "http"
    return f"{scheme}://{host}:{cfg.web.port}/"
