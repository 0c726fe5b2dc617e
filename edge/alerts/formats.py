"""What one alert looks like to each kind of receiver, as the providers document their
robots' webhooks. Pure: the caller gives the clock (signatures carry the time).

- WeChat Work (企业微信) group robot: the key is in the URL; ``markdown`` text, the picture
  as an ``image`` message of its own (base64 + MD5, at most 2 MB).
- DingTalk (钉钉) robot with 加签: ``&timestamp=<ms>&sign=<base64 HMAC-SHA256(secret,
  "<ms>\\n<secret>")>`` added to the URL; ``markdown`` text.
- Feishu (飞书) bot with 签名校验: ``timestamp`` (s) and ``sign`` (base64 HMAC-SHA256 keyed
  with "<s>\\n<secret>" over nothing) in the body; ``text``.
- A generic webhook: one JSON object per alert (schema ``edge.alert/1``, docs/alerts.md),
  the picture base64 inside, signed ``X-Edge-Signature: sha256=<hex HMAC of
  "<timestamp>.<body>">`` with ``X-Edge-Timestamp``.
- A text message (短信): the headline and what happened, short (no link, no picture: the
  phone it goes to may have no data).
- A browser's notification (Web Push): title, body, the playback link to open on a tap,
  and a tag, so a retried alert replaces its first copy on the phone instead of adding one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass, field

SCHEMA = "edge.alert/1"
WECOM_MAX_PICTURE = 2 * 1024 * 1024
SMS_MAX_CHARS = 140  # two parts of 70 (UCS-2); the modem splits a longer text itself
PUSH_MAX_BYTES = 3000  # of JSON; the encrypted record must stay under 4096 (RFC 8291)
KIND_NAMES = {
    "tripwire": "越线", "loitering": "徘徊", "intrusion": "区域入侵", "person": "行人",
    "vehicle": "车辆", "camera_offline": "摄像机离线", "picture_fault": "画面异常",
    "disk": "磁盘故障", "budget": "流量超限", "retention": "录像保存不足", "test": "测试",
}


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # one of KIND_NAMES
    camera_id: str  # or the node's ID for node-wide ones (disk, budget)
    camera_name: str
    ts: float  # when it happened (Unix seconds)
    local_time: str  # the same in the node's time zone, for people
    text: str  # what happened, Chinese first
    node_name: str = ""
    rule: str = ""  # the zone or line that raised it
    link: str = ""  # the event's playback on the box (LAN/VPN)
    picture: bytes | None = None  # JPEG of the object, where there is one
    more: int = 0  # alerts of the same rule folded into this one by the rate limit
    late_s: float = 0.0  # sent this long after it happened (a link outage)
    event_id: int = 0


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def headline(alert: Alert) -> str:
    kind = KIND_NAMES.get(alert.kind, alert.kind)
    where = f"{alert.node_name} · {alert.camera_name}" if alert.node_name else alert.camera_name
    return f"【{kind}】{where}"


def lines(alert: Alert) -> list[str]:
    out = [alert.text, f"时间 time: {alert.local_time}"]
    if alert.rule:
        out.append(f"规则 rule: {alert.rule}")
    if alert.more:
        out.append(f"另有 {alert.more} 条同类告警 and {alert.more} more")
    if alert.late_s >= 60:
        out.append(f"(延迟 {alert.late_s / 60:.0f} 分钟送达: 网络中断 late: the link was down)")
    if alert.link:
        out.append(f"回放 playback: {alert.link}")
    return out


def wecom(url: str, alert: Alert) -> list[Request]:
    text = f"**{headline(alert)}**\n" + "\n".join(f"> {line}" for line in lines(alert))
    out = [Request(url, _json({"msgtype": "markdown", "markdown": {"content": text}}),
                   _JSON_HEADERS)]
    if alert.picture and len(alert.picture) <= WECOM_MAX_PICTURE:
        out.append(Request(url, _json({"msgtype": "image", "image": {
            "base64": base64.b64encode(alert.picture).decode(),
            "md5": hashlib.md5(alert.picture).hexdigest()}}), _JSON_HEADERS))
    return out


def dingtalk(url: str, secret: str, alert: Alert, now_ms: int) -> list[Request]:
    signed = url
    if secret:
        digest = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256)
        sign = urllib.parse.quote_plus(base64.b64encode(digest.digest()).decode())
        signed += ("&" if "?" in url else "?") + f"timestamp={now_ms}&sign={sign}"
    text = f"### {headline(alert)}\n" + "\n\n".join(lines(alert))
    return [Request(signed, _json({"msgtype": "markdown", "markdown": {
        "title": headline(alert), "text": text}}), _JSON_HEADERS)]


def feishu(url: str, secret: str, alert: Alert, now_s: int) -> list[Request]:
    body: dict[str, object] = {"msg_type": "text", "content": {
        "text": headline(alert) + "\n" + "\n".join(lines(alert))}}
    if secret:
        key = f"{now_s}\n{secret}".encode()
        body = {"timestamp": str(now_s),
                "sign": base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode(),
                **body}
    return [Request(url, _json(body), _JSON_HEADERS)]


def webhook(url: str, secret: str, alert: Alert, now_s: int) -> list[Request]:
    body = _json({
        "schema": SCHEMA, "kind": alert.kind, "camera": {"id": alert.camera_id,
                                                          "name": alert.camera_name},
        "node": alert.node_name, "ts": alert.ts, "local_time": alert.local_time,
        "text": alert.text, "rule": alert.rule, "link": alert.link, "more": alert.more,
        "late_s": round(alert.late_s, 1), "event_id": alert.event_id,
        "picture_jpeg_base64": base64.b64encode(alert.picture).decode()
        if alert.picture else None})
    headers = dict(_JSON_HEADERS)
    if secret:
        headers["X-Edge-Timestamp"] = str(now_s)
        mac = hmac.new(secret.encode(), f"{now_s}.".encode() + body, hashlib.sha256)
        headers["X-Edge-Signature"] = "sha256=" + mac.hexdigest()
    return [Request(url, body, headers)]


def sms_text(alert: Alert) -> str:
    text = [headline(alert), alert.text, alert.local_time]
    if alert.rule:
        text.append(f"规则 {alert.rule}")
    if alert.more:
        text.append(f"另有 {alert.more} 条")
    return " ".join(text)[:SMS_MAX_CHARS]


def push_payload(alert: Alert) -> bytes:
    """The JSON the box's service worker shows as a notification (edge/web/static/sw.js)."""
    body = "\n".join(line for line in lines(alert) if not line.startswith("回放 "))
    payload = {"title": headline(alert), "body": body, "url": alert.link or "/events",
               "tag": f"edge-{alert.kind}-{alert.camera_id}-{alert.event_id or int(alert.ts)}",
               "ts": alert.ts}
    data = _json(payload)
    while len(data) > PUSH_MAX_BYTES:  # a long Chinese text: cut the body, keep the rest
        payload["body"] = str(payload["body"])[:-100]
        data = _json(payload)
    return data


def render(kind: str, url: str, secret: str, alert: Alert, now: float) -> list[Request]:
    """The requests that carry ``alert`` to a receiver of ``kind``."""
    if kind == "wecom":
        return wecom(url, alert)
    if kind == "dingtalk":
        return dingtalk(url, secret, alert, int(now * 1000))
    if kind == "feishu":
        return feishu(url, secret, alert, int(now))
    return webhook(url, secret, alert, int(now))


_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
