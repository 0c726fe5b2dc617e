"""``edge mqtt-test``: connect once with the node's [mqtt] settings, publish a test
health message, and say precisely what happened (for the technician setting it up)."""

from __future__ import annotations

import ssl
import time
from typing import Any

import paho.mqtt.client as mqtt

from edge import __version__
from edge.config import EdgeConfig
from edge.mqtt.runner import (
    UNSUPPORTED_PROTOCOL, describe_connect_error, describe_refusal, make_client,
)
from edge.mqtt.encoding import PayloadError, decode, encode
from edge.mqtt.topics import Topics

TIMEOUT_S = 10.0
RETAINED_WAIT_S = 3.0
CLOSED = "代理关闭了连接 the broker closed the connection"


def mqtt_test(cfg: EdgeConfig) -> tuple[bool, list[str]]:
    m = cfg.mqtt
    assert m is not None
    lines = [f"代理 broker {m.host}:{m.broker_port} ({'TLS' if m.tls else 'TCP'}, "
             f"MQTT {m.protocol}, 用户 user {m.username or '-'})"]
    deadline = time.monotonic() + TIMEOUT_S
    client, failure = _connect(cfg, mqtt.MQTTv311 if m.protocol == "3.1.1" else mqtt.MQTTv5,
                               deadline)
    # as the daemon does: a 3.1.1-only broker answers CONNACK 1 or just hangs up
    if m.protocol == "auto" and (failure.endswith(UNSUPPORTED_PROTOCOL) or failure == CLOSED):
        lines.append(f"MQTT 5 失败 failed ({failure}); 改用 trying 3.1.1")
        client, failure = _connect(cfg, mqtt.MQTTv311, deadline)
    if failure:
        return False, lines + [f"失败 FAILED: {failure}"]
    lines.append("已连接 connected")
    topics = Topics(m.topic_prefix, cfg.node.id)
    topic = topics.health + "/test"
    body, packed = encode({"test": True, "node": cfg.node.id, "version": __version__,
                           "ts": time.time()}, m.compress)
    info = client.publish(topic, body, qos=1)
    while not info.is_published() and time.monotonic() < deadline:
        client.loop(0.2)
    if not info.is_published():
        client.disconnect()
        return False, lines + [f"失败 FAILED: 代理未确认 no PUBACK for {topic}"]
    lines.append(f"已发布测试健康消息 published a test health message to {topic} (PUBACK, "
                 f"{len(body)} bytes{', zlib' if packed else ''})")
    lines.append(_retained_health(client, topics.health))
    client.disconnect()
    return True, lines


def _retained_health(client: mqtt.Client, topic: str) -> str:
    """What the centre reads on the health topic now: decoded as a consumer would."""
    got: list[bytes] = []
    client.on_message = lambda _c, _u, msg: got.append(msg.payload)
    client.subscribe(topic, qos=1)
    deadline = time.monotonic() + RETAINED_WAIT_S
    while not got and time.monotonic() < deadline:
        client.loop(0.2)
    if not got:
        return f"代理上尚无保留的健康消息 no retained health message on {topic} yet"
    try:
        doc = decode(got[0])
    except PayloadError as exc:
        return f"保留的健康消息无法解码 the retained health message does not decode: {exc}"
    summary = doc.get("summary", {}) if isinstance(doc, dict) else {}
    return (f"保留的健康消息 retained health on {topic}: {len(got[0])} bytes, "
            f"{'zlib' if got[0][:1] == b'x' else 'JSON'}, {summary.get('online', '?')}/"
            f"{summary.get('cameras', '?')} 摄像机在线 cameras online")


def _connect(cfg: EdgeConfig, protocol: mqtt.MQTTProtocolVersion,
             deadline: float) -> tuple[mqtt.Client, str]:
    """A client connected (and ""), or why not."""
    m = cfg.mqtt
    assert m is not None
    client = make_client(cfg, protocol)
    result: dict[str, Any] = {}
    client.on_connect = lambda _c, _u, _f, reason, _p: result.setdefault("connack", reason)
    try:
        client.connect(m.host, m.broker_port, m.keepalive)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return client, describe_connect_error(exc, m)
    while "connack" not in result and time.monotonic() < deadline:
        if client.loop(0.2) != mqtt.MQTT_ERR_SUCCESS and "connack" not in result:
            return client, CLOSED
    reason = result.get("connack")
    if reason is None:
        return client, f"未收到 CONNACK no answer to CONNECT in {TIMEOUT_S:.0f} s"
    if reason.is_failure:
        client.disconnect()
        return client, describe_refusal(reason)
    return client, ""
