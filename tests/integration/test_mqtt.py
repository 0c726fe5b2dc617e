"""Health over MQTT against a real Mosquitto (password file and TLS listener), with the
daemon (`edge run`) recording real simulated cameras."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import av
import jsonschema
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.mqtt.encoding import decode
from edge.mqtt.outbox import Outbox
from edge.record.index import Index
from edge.sim.server import CameraServer
from tests.conftest import ROOT, Daemon, wait_for, write_config
from tests.integration.broker import Broker, OldBroker, Subscriber

NODE = "34020000001180000001"
CAM = "34020000001320000001"
BASE = f"edge/{NODE}"
SCHEMA = json.loads((ROOT / "edge" / "health" / "health.schema.json").read_text())
OUTAGE_S = 120.0  # the two-minute broker outage


def node(tmp_path: Path, broker: Broker, cams: list[tuple[str, str]], **mqtt_extra: object) -> Path:
    return write_config(tmp_path / "edge.toml", tmp_path / "data", cams,
                        extra=broker.config(**mqtt_extra))


def latest_health(sub: Subscriber) -> dict:
    return decode(sub.on(f"{BASE}/health")[-1])


def test_status_last_will_health_and_a_camera_going_offline(
    tmp_path: Path, broker: Broker, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264"})
    sub = Subscriber(broker, [f"{BASE}/#"])
    daemon = Daemon(node(tmp_path, broker, [(CAM, cam.url("/a"))])).start()
    try:
        wait_for(lambda: b"online" in sub.on(f"{BASE}/status"), 20, "status online")
        wait_for(lambda: sub.on(f"{BASE}/health") and latest_health(sub)["cameras"][0]["recording"],
                 30, "a health message with the camera recording")
        health = latest_health(sub)
        jsonschema.validate(health, SCHEMA)
        [entry] = health["cameras"]
        assert entry["id"] == CAM and entry["online"] and entry["fps"] > 20
        assert health["summary"] == {"cameras": 1, "online": 1, "online_ratio": 1.0,
                                     "key_area_cameras": 0, "key_area_online": 0, "recording": 1}
        assert 0 < health["disk"]["free_bytes"] <= health["disk"]["total_bytes"]
        assert health["system"]["memory"]["edge_pss_bytes"] > 10_000_000
        state = json.loads(sub.on(f"{BASE}/cameras/{CAM}/state")[-1])
        assert state["online"] and state["recording"]

        cam.stop()  # the camera dies: offline in health within 15 s, an event, a lower rate
        t0 = time.monotonic()
        wait_for(lambda: not latest_health(sub)["cameras"][0]["online"], 15, "camera offline")
        offline_after = time.monotonic() - t0
        health = latest_health(sub)
        jsonschema.validate(health, SCHEMA)
        assert health["cameras"][0]["online_rate_24h"] < 1.0
        assert health["summary"]["online_ratio"] == 0.0
        events = [json.loads(p) for p in sub.on(f"{BASE}/events")]
        assert [e["type"] for e in events if e.get("channel") == CAM][-1] == "camera_offline"
        assert not json.loads(sub.on(f"{BASE}/cameras/{CAM}/state")[-1])["online"]
        print(f"camera offline in health after {offline_after:.1f} s")

        daemon.kill_all()  # SIGKILL: the broker sends our last will
        wait_for(lambda: sub.on(f"{BASE}/status")[-1:] == [b"offline"], 15, "last will")
        daemon = Daemon(daemon.config).start()
        wait_for(lambda: sub.on(f"{BASE}/status")[-1:] == [b"online"], 20, "online again")
        assert daemon.stop() == 0
        wait_for(lambda: sub.on(f"{BASE}/status")[-1:] == [b"stopped"], 10, "stopped")
    finally:
        daemon.stop()
        sub.close()


def test_outbox_delivers_everything_in_order_across_an_outage_and_a_restart(
    tmp_path: Path, broker: Broker,
) -> None:
    sub = Subscriber(broker, [f"{BASE}/events", f"{BASE}/status"], client_id="outage-sub")
    assert sub.subscribed.wait(10)
    config = node(tmp_path, broker, [])
    daemon = Daemon(config).start()
    data = tmp_path / "data"
    wait_for(lambda: (data / "edge.db").exists(), 10, "the index")
    outbox = Outbox(data)
    try:
        wait_for(lambda: sub.on(f"{BASE}/status")[-1:] == [b"online"], 20, "the daemon online")
        broker.stop()
        started = time.monotonic()
        for seq in range(500):  # a producer (detection, later) writing through the outbox
            outbox.put("events", {"type": "test", "seq": seq}, time.time())
            if seq == 249:
                assert daemon.stop() == 0  # a restart in the middle of the outage
                daemon = Daemon(config).start()
            time.sleep(OUTAGE_S / 2 / 500)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
        assert outbox.stats()["pending"] == 500
        broker.start()
        wait_for(lambda: len(seqs(sub)) >= 500 and len(set(seqs(sub))) == 500, 120,
                 "all 500 events")
        got = seqs(sub)
        first_seen = list(dict.fromkeys(got))  # at least once: duplicates allowed, not reordering
        assert first_seen == list(range(500))
        wait_for(lambda: outbox.stats()["pending"] == 0, 10, "the outbox emptied by PUBACKs")
        ids = [json.loads(p)["id"] for p in sub.on(f"{BASE}/events") if b'"seq"' in p]
        assert len(set(ids)) == 500  # unique IDs for de-duplication
    finally:
        outbox.close()
        daemon.stop()
        sub.close()


def seqs(sub: Subscriber) -> list[int]:
    return [json.loads(p)["seq"] for p in sub.on(f"{BASE}/events") if b'"seq"' in p]


def test_outbox_cap_drops_the_oldest_and_health_counts_them(tmp_path: Path,
                                                           broker: Broker) -> None:
    # a persistent session first: the broker keeps for it what arrives while it reconnects
    sub = Subscriber(broker, [f"{BASE}/events", f"{BASE}/health"], client_id="cap-sub")
    assert sub.subscribed.wait(10)
    broker.stop()  # down before the daemon starts
    config = node(tmp_path, broker, [], outbox_max_messages=50)
    daemon = Daemon(config).start()
    data = tmp_path / "data"
    wait_for(lambda: (data / "edge.db").exists(), 10, "the index")
    outbox = Outbox(data)
    try:
        for seq in range(80):
            outbox.put("events", {"type": "test", "seq": seq}, time.time())
        wait_for(lambda: outbox.stats() == {"pending": 50, "pending_bytes": outbox.stats()[
            "pending_bytes"], "dropped_total": 30}, 10, "the cap applied")
        broker.start()
        wait_for(lambda: len(set(seqs(sub))) == 50, 60, "the 50 newest events")
        assert list(dict.fromkeys(seqs(sub))) == list(range(30, 80))
        wait_for(lambda: sub.on(f"{BASE}/health"), 30, "health")
        assert latest_health(sub)["outbox"]["dropped_total"] == 30
    finally:
        outbox.close()
        daemon.stop()
        sub.close()


def mqtt_test(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "mqtt-test", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)


def test_wrong_password_and_wrong_ca_are_clear_errors_and_retried(
    tmp_path: Path, broker: Broker,
) -> None:
    good = mqtt_test(node(tmp_path, broker, []))
    assert good.returncode == 0 and "PUBACK" in good.stdout, good.stderr
    wrong_pw = mqtt_test(node(tmp_path, broker, [], password="nope"))
    assert wrong_pw.returncode == 1 and "认证失败" in wrong_pw.stderr, wrong_pw.stderr
    from tests.integration.broker import make_ca

    _, other_ca = make_ca(tmp_path, "other-ca")
    tls = {"port": broker.tls_port, "tls": True}
    wrong_ca = mqtt_test(node(tmp_path, broker, [], ca_file=str(other_ca), **tls))
    assert wrong_ca.returncode == 1 and "TLS 证书校验失败" in wrong_ca.stderr, wrong_ca.stderr
    right_ca = mqtt_test(node(tmp_path, broker, [], ca_file=str(broker.ca), **tls))
    assert right_ca.returncode == 0, right_ca.stderr
    mtls = {"port": broker.mtls_port, "tls": True, "ca_file": str(broker.ca)}
    no_cert = mqtt_test(node(tmp_path, broker, [], **mtls))
    assert no_cert.returncode == 1 and "TLS" in no_cert.stderr, no_cert.stderr
    with_cert = mqtt_test(node(tmp_path, broker, [], cert_file=str(broker.client_cert),
                               key_file=str(broker.client_key), **mtls))
    assert with_cert.returncode == 0, with_cert.stderr
    v311 = mqtt_test(node(tmp_path, broker, [], protocol="3.1.1"))
    assert v311.returncode == 0, v311.stderr
    nowhere = mqtt_test(node(tmp_path, broker, [], host="broker.invalid"))
    assert nowhere.returncode == 1 and "域名解析失败 cannot resolve broker.invalid" in nowhere.stderr
    # the daemon with a wrong password: one clear line, and it keeps trying
    daemon = Daemon(node(tmp_path, broker, [], password="nope")).start()
    try:
        log = tmp_path / "edge.log"
        wait_for(lambda: "认证失败" in log.read_text(), 20, "the refusal logged")
        time.sleep(8)  # several retries later
        assert daemon.proc.poll() is None
        assert log.read_text().count("认证失败") == 1  # logged once per change, not per retry
        mosquitto_log = (broker.work / "mosquitto.log").read_text()
        assert mosquitto_log.count("not authorised") >= 2  # it did retry
        status = subprocess.run([sys.executable, "-m", "edge", "status", "--config",
                                 str(tmp_path / "edge.toml")], capture_output=True, text=True)
        assert "MQTT: 未连接 not connected, 错误 error: 认证失败" in status.stdout, status.stdout
    finally:
        daemon.stop()


def test_a_broker_without_mqtt5_is_spoken_to_in_311(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    """protocol = "auto": MQTT 5 first; a 3.1.1-only broker (amqtt) refuses it (CONNACK 1,
    or a hang-up when the CONNECT carries a will), and mqtt-test and the daemon carry on
    in 3.1.1."""
    old = OldBroker(tmp_path / "amqtt")
    try:
        cams = cameras({"/a": "h264"})
        config = write_config(tmp_path / "edge.toml", tmp_path / "data",
                              [(CAM, cams.url("/a"))], extra=old.config())
        checked = mqtt_test(config)
        assert checked.returncode == 0, checked.stderr
        assert "trying 3.1.1" in checked.stdout and "PUBACK" in checked.stdout, checked.stdout
        sub = Subscriber(old, [f"{BASE}/#"])
        daemon = Daemon(config).start()
        try:
            wait_for(lambda: b"online" in sub.on(f"{BASE}/status"), 30, "online over 3.1.1")
            wait_for(lambda: sub.on(f"{BASE}/health"), 30, "a health message over 3.1.1")
            health = latest_health(sub)
            jsonschema.validate(health, SCHEMA)
            assert health["node"]["id"] == NODE
            log = (tmp_path / "edge.log").read_text()
            assert "connected to 127.0.0.1" in log and "(MQTT 3.1.1)" in log, log
        finally:
            daemon.stop()
            sub.close()
    finally:
        old.close()


def test_commands_allow_list_audit_snapshot_and_response_topic(
    tmp_path: Path, broker: Broker, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264"})
    config = node(tmp_path, broker, [(CAM, cam.url("/a"))],
                  allowed_commands=["ping", "snapshot", "health"])
    daemon = Daemon(config).start()
    other = "edge/34020000001180000099/cmd/reload-config"  # another node's command topic
    sub = Subscriber(broker, [f"{BASE}/#", other], client_id="cmd-sub")
    try:
        wait_for(lambda: sub.on(f"{BASE}/status")[-1:] == [b"online"], 20, "online")
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"{BASE}/cmd/ping/reply/1"  # a per-request reply topic
        props.CorrelationData = b"req-1"
        sub.client.publish(f"{BASE}/cmd/ping", b"{}", qos=1, properties=props)
        wait_for(lambda: sub.on(f"{BASE}/cmd/ping/reply/1"), 10, "the ping reply")
        [reply] = [m for m in sub.messages if m.topic == f"{BASE}/cmd/ping/reply/1"]
        assert json.loads(reply.payload)["ok"] and reply.properties.CorrelationData == b"req-1"
        # a reply never lands on a command topic, this node's or another's: it goes to the
        # command's own reply topic instead
        for hostile in (f"{BASE}/cmd/reload-config", other, "ops/replies/1"):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = hostile
            props.CorrelationData = hostile.encode()
            sub.client.publish(f"{BASE}/cmd/ping", b"{}", qos=1, properties=props)
            wait_for(lambda: [m for m in sub.messages if m.topic == f"{BASE}/cmd/ping/reply"
                              and m.properties.CorrelationData == hostile.encode()], 10,
                     f"the reply meant for {hostile} on the ping's own reply topic")
        assert not sub.on(f"{BASE}/cmd/reload-config") and not sub.on(other)
        sub.client.publish(f"{BASE}/cmd/reload-config", b"{}", qos=1)  # not allowed here
        wait_for(lambda: sub.on(f"{BASE}/cmd/reload-config/reply"), 10, "the refusal")
        refusal = json.loads(sub.on(f"{BASE}/cmd/reload-config/reply")[0])
        assert not refusal["ok"] and "not allowed" in refusal["error"]
        index = Index(tmp_path / "data", readonly=True)
        wait_for(lambda: index.summary(CAM)[3] > 0, 30, "footage")
        time.sleep(3)  # a first fragment in the newest segment
        sub.client.publish(f"{BASE}/cmd/snapshot", json.dumps({"channel": CAM}).encode(), qos=1)
        wait_for(lambda: sub.on(f"{BASE}/cmd/snapshot/reply"), 30, "the snapshot")
        jpeg = sub.on(f"{BASE}/cmd/snapshot/reply")[0]
        assert jpeg[:2] == b"\xff\xd8", jpeg[:200]
        picture = tmp_path / "snap.jpg"
        picture.write_bytes(jpeg)
        with av.open(str(picture)) as container:
            frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (640, 360)
        # eight at once: two children at most, the others refused with a reply that says so
        # (issue 22, finding 13)
        for i in range(8):
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = f"snap-{i}".encode()
            sub.client.publish(f"{BASE}/cmd/snapshot", json.dumps({"channel": CAM}).encode(),
                               qos=1, properties=props)

        def replies() -> list:
            return [m for m in sub.messages if m.topic == f"{BASE}/cmd/snapshot/reply"
                    and getattr(m.properties, "CorrelationData", b"").startswith(b"snap-")]

        wait_for(lambda: len(replies()) == 8, 60, "eight answers")
        jpegs = [m for m in replies() if m.payload[:2] == b"\xff\xd8"]
        busy = [json.loads(m.payload) for m in replies() if m.payload[:1] == b"{"]
        assert 1 <= len(jpegs) and len(jpegs) + len(busy) == 8
        assert busy and all("busy" in b["error"] for b in busy), busy
        audit = [(actor, action, detail) for _, actor, action, detail in index.audit_log()]
        index.close()
        # an alarm raised and cleared in the index (as retention does) reaches the broker
        writer = Index(tmp_path / "data")
        writer.raise_alarm(CAM, "retention_below_minimum", "only 59 days kept", time.time())
        writer.clear_alarm(CAM, "retention_below_minimum", time.time() + 1)
        writer.close()
        wait_for(lambda: len(sub.on(f"{BASE}/alarms")) >= 2, 10, "the alarm messages")
        alarms = [json.loads(p) for p in sub.on(f"{BASE}/alarms")]
        assert [(a["type"], a["channel"]) for a in alarms] == [("alarm_raised", CAM),
                                                               ("alarm_cleared", CAM)]
        assert ("mqtt", "command", {"name": "ping", "allowed": True}) in audit
        assert ("mqtt", "command", {"name": "reload-config", "allowed": False}) in audit
    finally:
        daemon.stop()
        sub.close()


def test_reload_config_restarts_in_the_same_process(tmp_path: Path, broker: Broker) -> None:
    config = node(tmp_path, broker, [], allowed_commands=["reload-config"])
    daemon = Daemon(config).start()
    sub = Subscriber(broker, [f"{BASE}/status", f"{BASE}/cmd/#"], client_id="reload-sub")
    try:
        wait_for(lambda: sub.on(f"{BASE}/status")[-1:] == [b"online"], 20, "online")
        sub.client.publish(f"{BASE}/cmd/reload-config", b"{}", qos=1)
        wait_for(lambda: sub.on(f"{BASE}/cmd/reload-config/reply"), 10, "the reply")
        assert json.loads(sub.on(f"{BASE}/cmd/reload-config/reply")[0])["restarting"]
        wait_for(lambda: sub.on(f"{BASE}/status")[-2:] == [b"stopped", b"online"], 30,
                 "stopped, then online again")
        assert daemon.proc.poll() is None  # the same PID: systemd keeps tracking it
        assert "reload-config: restarting" in (tmp_path / "edge.log").read_text()
    finally:
        daemon.stop()
        sub.close()
