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
from edge.mqtt.runner import describe_connect_error, describe_refusal, make_client
from edge.mqtt.topics import Topics

TIMEOUT_S = 10.0


def mqtt_test(cfg: EdgeConfig) -> tuple[bool, list[str]]:
    m = cfg.mqtt
    assert m is not None
    lines = [f"代理 broker {m.host}:{m.broker_port} ({'TLS' if m.tls else 'TCP'}, "
             f"MQTT {m.protocol}, 用户 user {m.username or '-'})"]
    protocol = mqtt.MQTTv311 if m.protocol == "3.1.1" else mqtt.MQTTv5
    client = make_client(cfg, protocol)
    result: dict[str, Any] = {}
    client.on_connect = lambda _c, _u, _f, reason, _p: result.setdefault("connack", reason)
    try:
        client.connect(m.host, m.broker_port, m.keepalive)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return False, lines + [f"失败 FAILED: {describe_connect_error(exc, m)}"]
    deadline = time.monotonic() + TIMEOUT_S
    while "connack" not in result and time.monotonic() < deadline:
        if client.loop(0.2) != mqtt.MQTT_ERR_SUCCESS and "connack" not in result:
            return False, lines + ["失败 FAILED: 代理关闭了连接 the broker closed the connection"]
    reason = result.get("connack")
    if reason is None:
        return False, lines + ["失败 FAILED: 未收到 CONNACK no answer to CONNECT in "
                               f"{TIMEOUT_S:.0f} s"]
    if reason.is_failure:
        return False, lines + [f"失败 FAILED: {describe_refusal(reason)}"]
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
