"""A real Mosquitto broker on loopback for the MQTT tests: a password file, a plain
listener and a TLS listener with a CA and server certificate made here with openssl,
and persistence, so a subscriber's session and its queued messages survive a restart."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.sim.server import free_port

USER, PASSWORD = "edge", "s3cret-pw"


def make_ca(work: Path, name: str) -> tuple[Path, Path]:
    key, cert = work / f"{name}.key", work / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"],
                   check=True, capture_output=True)
    return key, cert


class Broker:
    def __init__(self, work: Path) -> None:
        for tool in ("mosquitto", "mosquitto_passwd", "openssl"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} is missing: apt install mosquitto openssl (CI installs them)")
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.port, self.tls_port, self.mtls_port = free_port(), free_port(), free_port()
        passwd = work / "passwd"
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), USER, PASSWORD], check=True)
        ca_key, self.ca = make_ca(work, "ca")
        server_key, csr, server = work / "server.key", work / "server.csr", work / "server.pem"
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(server_key), "-out", str(csr), "-subj", "/CN=localhost"],
                       check=True, capture_output=True)
        ext = work / "san.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca),
                        "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(server), "-days", "2",
                        "-extfile", str(ext)], check=True, capture_output=True)
        # a client certificate from the same CA, for the listener that demands one
        self.client_key, self.client_cert = work / "client.key", work / "client.pem"
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(self.client_key), "-out", str(work / "client.csr"), "-subj",
                        "/CN=edge-node"], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", str(work / "client.csr"), "-CA",
                        str(self.ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out",
                        str(self.client_cert), "-days", "2"], check=True, capture_output=True)
        (work / "data").mkdir(exist_ok=True)
        self.conf = work / "mosquitto.conf"
        self.conf.write_text("\n".join([
            "user root", "persistence true", f"persistence_location {work / 'data'}/",
            "autosave_interval 1", "max_queued_messages 20000", "allow_anonymous false", f"password_file {passwd}",
            f"listener {self.port} 127.0.0.1",
            f"listener {self.tls_port} 127.0.0.1", f"cafile {self.ca}",
            f"certfile {server}", f"keyfile {server_key}",
            f"listener {self.mtls_port} 127.0.0.1", f"cafile {self.ca}",
            f"certfile {server}", f"keyfile {server_key}", "require_certificate true", ""]))
        self.log = (work / "mosquitto.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=self.log,
                                     stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                probe = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
                probe.username_pw_set(USER, PASSWORD)
                probe.connect("127.0.0.1", self.port)
                probe.disconnect()
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"mosquitto did not start: {(self.work / 'mosquitto.log').read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # saves the persistence file
            self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        self.log.close()

    def config(self, **extra: object) -> str:
        """The daemon's [mqtt] section for this broker."""
        fields = {"host": "127.0.0.1", "port": self.port, "username": USER,
                  "password": PASSWORD, "health_interval": 5, "health_full_interval": 5,
                  "keepalive": 5, **extra}
        return "\n[mqtt]\n" + "\n".join(f"{k} = {_toml(v)}" for k, v in fields.items()) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value + '"'
    return str(value)


class OldBroker:
    """amqtt: a real broker that speaks MQTT 3.1.1 only and refuses an MQTT 5 CONNECT
    with return code 1, as older brokers in the field do. Anonymous, plain TCP."""

    def __init__(self, work: Path) -> None:
        script = Path(sys.executable).parent / "amqtt"
        if not script.exists():
            pytest.fail("amqtt is missing: pip install -e '.[test]' (CI installs it)")
        work.mkdir(parents=True, exist_ok=True)
        self.work, self.port = work, free_port()
        conf = work / "amqtt.yaml"
        conf.write_text(f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{self.port}\n"
                        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
                        "    allow_anonymous: true\n")
        self.log = (work / "amqtt.log").open("ab")
        self.proc = subprocess.Popen([str(script), "-c", str(conf)], stdout=self.log,
                                     stderr=self.log)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (work / "amqtt.log").read_text()
                time.sleep(0.2)

    def config(self) -> str:
        return (f'\n[mqtt]\nhost = "127.0.0.1"\nport = {self.port}\nhealth_interval = 5\n'
                "health_full_interval = 5\nkeepalive = 5\n")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class Subscriber:
    """A persistent-session subscriber (QoS 1): the broker keeps what it misses."""

    def __init__(self, broker: Broker | OldBroker, topics: list[str],
                 client_id: str = "test-sub") -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.subscribed = threading.Event()
        v5 = isinstance(broker, Broker)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                                  clean_session=None if v5 else False)
        if v5:
            self.client.username_pw_set(USER, PASSWORD)
        self.client.on_message = lambda _c, _u, msg: self.messages.append(msg)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_connect = lambda c, _u, _f, _r, _p: [c.subscribe(t, qos=1) for t in topics]
        self.client.reconnect_delay_set(0.2, 1)
        if v5:
            self.client.connect("127.0.0.1", broker.port, clean_start=False,
                                properties=_session_expiry())
        else:
            self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def on(self, topic: str) -> list[bytes]:
        return [m.payload for m in list(self.messages) if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _session_expiry() -> object:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    return props
