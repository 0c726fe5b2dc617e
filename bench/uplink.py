"""Benchmark: what an idle node costs its 4G SIM (issue 12's budget: <= 100 MB a month).

An idle node: 16 simulated cameras (a real street scene) recording, two upper platforms
over UDP, Mosquitto over MQTT 5, nobody watching video. Every byte between the node and its peers goes
through the user-space links of edge/sim/impair.py (one per platform, one for MQTT),
which count it on the wire (IPv4 + UDP/TCP headers; TCP from the kernel's own segment
counters). Run twice in the same invocation, one after the other:

- **before** (the anchor): the settings the issue measured — whole health message every
  60 s as plain JSON, MQTT keepalive 60 s;
- **after**: the defaults — whole message hourly, change-driven deltas, zlib, keepalive 240 s.

After the start-up (registrations, MQTT connect, the first picture diagnoses: 4 min), bytes
are counted over the window and projected to a day and a 30-day month. Periodic traffic slower than
the window is added from what was measured once: the registration refresh (REGISTER,
401, REGISTER, 200 at 2/3 of Expires = every 40 min) and, after, the hourly whole
health message (its real payload read back from the broker, plus MQTT/TCP/IP framing:
an estimate, printed as such).

Usage: ``python bench/uplink.py [--seconds 300]``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402

from bench.procstat import machine  # noqa: E402
from edge.sim.impair import TcpLink, UdpLink  # noqa: E402
from edge.sim.server import CameraServer, free_port  # noqa: E402
from edge.uplink.tcpinfo import IPV4_TCP_HEADERS  # noqa: E402
from tests.conftest import Daemon, street_clips, write_config  # noqa: E402
from tests.integration.broker import PASSWORD as MQTT_PASSWORD  # noqa: E402
from tests.integration.broker import USER as MQTT_USER  # noqa: E402
from tests.integration.broker import Broker  # noqa: E402
from tests.integration.scripted_platform import NODE, PASSWORD, AnsweringPlatform  # noqa: E402

CAMERAS = 16
PLATFORMS = ("34020000002000000001", "34020000002000000002")
DAY_S, MONTH_DAYS = 86_400, 30
EXPIRES_S = 3600
REFRESH_S = EXPIRES_S * 2 / 3
SETTLE_S = 240.0  # past the start-up: the first picture diagnosis settles after 3 looks
BEFORE = {"health_interval": 60, "health_full_interval": 60, "compress": "false",
          "keepalive": 60}


@dataclass
class Run:
    name: str
    window_s: float
    sip_bytes: int  # both platforms, both ways, over the window
    mqtt_bytes: int
    register_bytes: int  # one registration exchange, both platforms
    full_health_bytes: int  # one whole health message on the wire (estimate), 0 if in window
    keepalives: int
    sip_kinds: Counter[str]  # requests the platforms received in the window, by kind
    mqtt_topics: Counter[str]  # messages the broker relayed in the window, by topic

    def per_day(self) -> dict[str, float]:
        scale = DAY_S / self.window_s
        return {
            "SIP keepalives and the rest": self.sip_bytes * scale,
            "SIP registration refresh": self.register_bytes * DAY_S / REFRESH_S,
            "MQTT (health, pings, state)": self.mqtt_bytes * scale,
            "MQTT hourly whole health": self.full_health_bytes * 24,
        }


def mqtt_section(broker: Broker, link: TcpLink, settings: dict[str, object]) -> str:
    fields = {"host": "127.0.0.1", "port": link.address[1], "username": MQTT_USER,
              "password": MQTT_PASSWORD, **settings}
    return "\n[mqtt]\n" + "\n".join(
        f"{k} = {v if not isinstance(v, str) or v in ('true', 'false') else repr(v)}"
        for k, v in fields.items()).replace("'", '"') + "\n"


def retained_health(broker: Broker) -> bytes:
    got: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(MQTT_USER, MQTT_PASSWORD)
    client.on_message = lambda _c, _u, msg: got.append(msg.payload)
    client.connect("127.0.0.1", broker.port)
    client.subscribe(f"edge/{NODE}/health", qos=1)
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        client.loop(0.2)
    client.disconnect()
    return got[0] if got else b""


class TopicCounter:
    """Every message the broker relays under the node's prefix, counted by topic."""

    def __init__(self, broker: Broker) -> None:
        self.topics: Counter[str] = Counter()
        self.started = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(MQTT_USER, MQTT_PASSWORD)
        self.client.on_message = self._count
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(f"edge/{NODE}/#", qos=0)
        self.client.loop_start()
        time.sleep(1)  # retained messages arrive first: not part of the window
        self.started = True

    def _count(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if self.started and not msg.retain:
            topic = re.sub(r"cameras/[0-9]+/", "cameras/*/", msg.topic.split(f"{NODE}/")[-1])
            self.topics[topic] += 1

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def publish_on_wire(payload: int, topic: int) -> int:
    """One QoS 1 PUBLISH of ``payload`` bytes and its PUBACK, with TCP/IP headers (MQTT 5
    properties: content type and the content-encoding user property, ~45 bytes)."""
    publish = 5 + topic + 2 + 45 + payload
    segments = math.ceil(publish / 1448)
    return publish + IPV4_TCP_HEADERS * segments + (4 + 2 + IPV4_TCP_HEADERS) + IPV4_TCP_HEADERS


def run(name: str, settings: dict[str, object], server: CameraServer, work: Path,
        seconds: float) -> Run:
    work.mkdir(parents=True)
    broker = Broker(work / "broker").start()
    platforms = [AnsweringPlatform(pid) for pid in PLATFORMS]
    for p in platforms:
        p.start()
    links = [UdpLink(("127.0.0.1", p.port)) for p in platforms]
    mqtt_link = TcpLink(("127.0.0.1", broker.port))
    sections = "".join(
        f'\n[[platforms]]\nid = "{pid}"\nhost = "127.0.0.1"\nport = {link.address[1]}\n'
        f'password = "{PASSWORD}"\nexpires = {EXPIRES_S}\n' for pid, link in zip(PLATFORMS, links))
    config = write_config(
        work / "edge.toml", work / "data",
        [(f"340200000013200000{i + 1:02d}", server.url(f"/{i}")) for i in range(CAMERAS)],
        extra=f"sip_port = {free_port()}\n[web]\nenabled = false\n" + sections
        + mqtt_section(broker, mqtt_link, settings))
    daemon = Daemon(config).start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(p.registrations for p in platforms):
            time.sleep(0.5)
        if not all(p.registrations for p in platforms):
            raise SystemExit(f"{name}: the platforms were never registered (see {config}.log)")
        register = sum(sum(link.wire_bytes()) for link in links)  # start-up = one exchange
        time.sleep(SETTLE_S)
        sip0 = sum(sum(link.wire_bytes()) for link in links)
        mqtt0 = sum(mqtt_link.wire_bytes())
        keepalives0 = sum(len(p.keepalives()) for p in platforms)
        requests0 = [len(p.requests) for p in platforms]
        watcher = TopicCounter(broker)
        print(f"  {name}: measuring {seconds:.0f} s ...", flush=True)
        time.sleep(seconds)
        watcher.close()
        kinds: Counter[str] = Counter()
        for p, first in zip(platforms, requests0):
            for _, request, _ in p.requests[first:]:
                cmd = re.search(rb"<CmdType>([A-Za-z]+)<", request.body)
                kinds[request.method + (f" {cmd.group(1).decode()}" if cmd else "")] += 1
        sip1 = sum(sum(link.wire_bytes()) for link in links)
        mqtt1 = sum(mqtt_link.wire_bytes())
        keepalives = sum(len(p.keepalives()) for p in platforms) - keepalives0
        health = retained_health(broker)
        full = 0
        if int(str(settings.get("health_full_interval", 3600))) > seconds:
            full = publish_on_wire(len(health), len(f"edge/{NODE}/health"))
        return Run(name, seconds, sip1 - sip0, mqtt1 - mqtt0, register, full, keepalives,
                   kinds, watcher.topics)
    finally:
        daemon.stop()
        for link in links:
            link.close()
        mqtt_link.close()
        for p in platforms:
            p.close()
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="measured window per run")
    args = parser.parse_args()
    clip = street_clips()["street"]  # a real scene: healthy cameras raise no picture fault
    server = CameraServer({f"/{i}": clip for i in range(CAMERAS)}).start()
    try:
        with tempfile.TemporaryDirectory(prefix="edge-uplink-") as tmp:
            before = run("before", BEFORE, server, Path(tmp) / "before", args.seconds)
            after = run("after", {}, server, Path(tmp) / "after", args.seconds)
    finally:
        server.stop()
    print(f"\nidle node: {CAMERAS} cameras, {len(PLATFORMS)} platforms (UDP, keepalive 60 s), "
          f"MQTT 5; window {args.seconds:.0f} s each; {machine()}")
    print(f"{'bytes on the wire per day':34} {'before':>12} {'after':>12}")
    rows_b, rows_a = before.per_day(), after.per_day()
    for key in rows_b:
        print(f"  {key:32} {rows_b[key] / 1e6:10.2f} MB {rows_a[key] / 1e6:10.2f} MB")
    total_b, total_a = sum(rows_b.values()), sum(rows_a.values())
    print(f"  {'total per day':32} {total_b / 1e6:10.2f} MB {total_a / 1e6:10.2f} MB")
    print(f"  {'projected per 30-day month':32} {total_b * MONTH_DAYS / 1e6:10.1f} MB "
          f"{total_a * MONTH_DAYS / 1e6:10.1f} MB   (target <= 100 MB)")
    print(f"  keepalives answered in the windows: {before.keepalives} / {after.keepalives}")
    for run_ in (before, after):
        print(f"  {run_.name}: SIP requests {dict(run_.sip_kinds)}; MQTT {dict(run_.mqtt_topics)}")
    print(f"after / before: {total_a / total_b:.3f}")


if __name__ == "__main__":
    main()
