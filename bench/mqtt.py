"""Benchmark: MQTT health cycle cost and outbox drain rate.

1. Health: CPU milliseconds to build and publish one health message for 16 cameras and
   2 platforms (system facts from psutil and /proc, per-camera oldest footage and 24-h and
   30-day online rates from SQLite, JSON), median of 30 cycles, in this process. Anchor:
   `mosquitto_pub` (C) publishing the same JSON once (process CPU, median of 10).
2. Outbox drain: 10,000 events stored while the broker was down; from the broker's return
   until a subscriber has all of them, with `edge run` (no cameras) doing the draining
   (SQLite read, publish QoS 1, delete on PUBACK). Anchor: a bare paho client publishing
   10,000 QoS 1 messages with the same in-flight window, no storage.

Usage: ``python bench/mqtt.py``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402

from edge.config import parse as parse_config  # noqa: E402
from edge.mqtt.outbox import Outbox  # noqa: E402
from edge.mqtt.runner import MAX_INFLIGHT, MqttRunner  # noqa: E402
from tests.integration.broker import USER, Broker, Subscriber  # noqa: E402

NODE = "34020000001180000001"
CAMERAS = [f"340200000013200000{i:02d}" for i in range(1, 17)]
PLATFORMS = ["34020000002000000001", "34020000002000000002"]
EVENTS = 10_000


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_health(work: Path, broker: Broker) -> None:
    cfg = parse_config({
        "node": {"id": NODE, "data_dir": str(work / "health")},
        "cameras": [{"id": c, "name": f"通道{i}", "url": f"rtsp://10.0.0.{i}/s",
                     "key_area": i % 4 == 0} for i, c in enumerate(CAMERAS, 1)],
        "platforms": [{"id": p, "host": "10.0.0.200"} for p in PLATFORMS],
        "mqtt": {"host": "127.0.0.1", "port": broker.port},
    })
    now = time.time()
    live = {"node": NODE, "ts": now, "cameras": [
        {"id": c, "online": True, "recording": True, "fps": 25.0, "bitrate_bps": 2_000_000,
         "last_packet_ts": now, "last_error": None, "reconnects_last_hour": 0} for c in CAMERAS],
        "platforms": [{"id": p, "registered": True, "state": "registered", "last_error": None,
                       "last_keepalive_ok_ts": now, "clock_offset_s": 0.2} for p in PLATFORMS]}
    (work / "health").mkdir()
    runner = MqttRunner(cfg, work / "edge.toml", threading.Event(), lambda: live,
                        lambda: [os.getpid()], lambda: None)
    runner.open_stores()
    runner._observe(now)  # a watch session with every camera's state, as at start-up
    times, size = [], 0
    for _ in range(30):
        t0 = time.process_time()
        body = json.dumps(runner.health(time.time()), ensure_ascii=False).encode()
        times.append((time.process_time() - t0) * 1000)
        size = len(body)
    runner.close_stores()
    payload = work / "health.json"
    payload.write_bytes(body)
    anchor = []
    for _ in range(10):
        before = children_cpu()
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", USER,
                        "-P", "s3cret-pw", "-q", "1", "-t", f"bench/{NODE}/health", "-f",
                        str(payload)], check=True)
        anchor.append((children_cpu() - before) * 1000)
    edge_ms, pub_ms = statistics.median(times), statistics.median(anchor)
    print(f"Health cycle, 16 cameras + 2 platforms ({size} bytes of JSON):")
    print(f"  edge build+encode : {edge_ms:6.2f} CPU-ms (median of 30)")
    print(f"  mosquitto_pub     : {pub_ms:6.2f} CPU-ms to publish it once (process, median of 10)")
    print(f"  ratio edge/anchor : {edge_ms / max(pub_ms, 1e-6):.2f}")


def bench_drain(work: Path, broker: Broker) -> None:
    data = work / "drain"
    config = work / "drain.toml"
    config.write_text(f'[node]\nid = "{NODE}"\ndata_dir = "{data}"\n' + broker.config())
    # a persistent session: the broker keeps what arrives while the subscriber reconnects
    sub = Subscriber(broker, [f"edge/{NODE}/events"], client_id="bench-drain")
    sub.subscribed.wait(10)
    broker.stop()
    daemon = subprocess.Popen([sys.executable, "-m", "edge", "--log-level", "WARNING", "run",
                               "--config", str(config)], cwd=ROOT)
    try:
        while not (data / "edge.db").exists():
            time.sleep(0.1)
        outbox = Outbox(data)
        for seq in range(EVENTS):
            outbox.put("events", {"type": "bench", "seq": seq}, time.time())
        broker.start()
        t0 = time.monotonic()
        while len(sub.on(f"edge/{NODE}/events")) < EVENTS and time.monotonic() - t0 < 600:
            time.sleep(0.05)
        edge_s = time.monotonic() - t0
        got = len(sub.on(f"edge/{NODE}/events"))
        sub.close()
        outbox.close()
    finally:
        daemon.terminate()
        daemon.wait()
    # the anchor: a bare paho publisher, same QoS and window, nothing stored
    sub = Subscriber(broker, ["bench/anchor"], client_id="bench-anchor-sub")
    sub.subscribed.wait(10)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.username_pw_set(USER, "s3cret-pw")
    pub.max_inflight_messages_set(MAX_INFLIGHT)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    body = json.dumps({"id": "x" * 32, "ts": time.time(), "type": "bench", "seq": 0}).encode()
    t0 = time.monotonic()
    for _ in range(EVENTS):
        pub.publish("bench/anchor", body, qos=1)
    while len(sub.on("bench/anchor")) < EVENTS and time.monotonic() - t0 < 600:
        time.sleep(0.05)
    anchor_s = time.monotonic() - t0
    pub.loop_stop()
    pub.disconnect()
    sub.close()
    print(f"Outbox drain after an outage of {EVENTS:,} events (QoS 1, {MAX_INFLIGHT} in flight):")
    print(f"  edge run      : {got:,} delivered in {edge_s:5.1f} s = {got / edge_s:7.0f} msg/s")
    print(f"  bare paho     : {EVENTS:,} delivered in {anchor_s:5.1f} s = "
          f"{EVENTS / anchor_s:7.0f} msg/s")
    print(f"  ratio edge/anchor (rate): {(got / edge_s) / (EVENTS / anchor_s):.2f}")


def main() -> None:
    print(f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Broker(work / "broker").start()
        try:
            bench_health(work, broker)
            bench_drain(work, broker)
        finally:
            broker.close()


if __name__ == "__main__":
    main()
