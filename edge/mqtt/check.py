"""``edge mqtt-test``: connect once with the node's [mqtt] settings, publish a test
health message, and say precisely what happened (for the technician setting it up)."""

from __future__ import annotations

import json
import ssl
import time
from typing import Any

import paho.mqtt.client as mqtt

from edge import __version__
from edge.config import EdgeConfig
from edge.mqtt.runner import (
    UNSUPPORTED_PROTOCOL, describe_connect_error, describe_refusal, make_client,
)
from edge.mqtt.topics import Topics

TIMEOUT_S = 10.0
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
    topic = Topics(m.topic_prefix, cfg.node.id).health + "/test"
    body = json.dumps({"test": True, "node": cfg.node.id, "version": __version__,
                       "ts": time.time()}).encode()
    info = client.publish(topic, body, qos=1)
    while not info.is_published() and time.monotonic() < deadline:
        client.loop(0.2)
    client.disconnect()
    if not info.is_published():
        return False, lines + [f"失败 FAILED: 代理未确认 no PUBACK for {topic}"]
    return True, lines + [f"已发布测试健康消息 published a test health message to {topic} (PUBACK)"]


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
