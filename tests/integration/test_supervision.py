"""Nothing a peer sends can kill a runner, and a runner that dies anyway is back within
2 s: against the real daemon (`edge run`) with a simulated camera, scripted upper
platforms over UDP and TCP, and a real Mosquitto. Faults that no peer can cause any
more are injected from inside each loop (edge/faults.py)."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import jsonschema

from edge.gb28181.sip.message import SipRequest, response_to
from edge.mqtt.encoding import decode
from edge.record.coverage import merge_ranges
from edge.record.index import Index
from edge.sim.server import CameraServer, free_port
from edge.supervision import START_GRACE_S
from tests.conftest import ROOT, Daemon, wait_for, write_config
from tests.integration.broker import Broker, Subscriber
from tests.integration.scripted_platform import (
    NODE, PASSWORD, SERVER, ScriptedPlatform, expect, invite, query, register,
)

CAM = "34020000001320000001"
OTHER = "34020000002000000002"  # the TCP platform
SCHEMA = json.loads((ROOT / "edge" / "health" / "health.schema.json").read_text())


def platforms_toml(udp: ScriptedPlatform, tcp: ScriptedPlatform | None = None) -> str:
    text = (f'\n[[platforms]]\nid = "{SERVER}"\nhost = "127.0.0.1"\nport = {udp.port}\n'
            f'password = "{PASSWORD}"\nkeepalive_interval = 5\n')
    if tcp:
        text += (f'\n[[platforms]]\nid = "{OTHER}"\nhost = "127.0.0.1"\nport = {tcp.port}\n'
                 f'transport = "tcp"\npassword = "{PASSWORD}"\nkeepalive_interval = 5\n')
    return text


def daemon_with_web(tmp_path: Path, cameras: Callable[..., CameraServer]
                    ) -> tuple[Path, int, Path, Daemon]:
    """`edge run` with one camera and its web UI on a free loopback port."""
    cam = cameras({"/a": "h264"})
    data = tmp_path / "data"
    port = free_port()
    config = write_config(tmp_path / "edge.toml", data, [(CAM, cam.url("/a"))],
                          extra=f'\n[web]\nlisten = "127.0.0.1"\nport = {port}\n')
    return data, port, config, Daemon(config).start()


def runners(data: Path) -> dict[str, dict]:
    try:
        status = json.loads((data / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return {r["name"]: r for r in status.get("runners", [])}


def log_times(log: Path, pattern: str) -> list[float]:
    """Wall times of the daemon's log lines matching ``pattern``."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if re.search(pattern, line):
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            out.append(stamp.timestamp())
    return out


def ranges(data: Path, channel: str) -> list[tuple[float, float]]:
    if not (data / "edge.db").exists():
        return []
    index = Index(data, readonly=True)
    try:
        return [(r.start, r.end) for r in merge_ranges(index.recorded_ranges(channel, 0, 1e12))]
    except sqlite3.OperationalError:  # the daemon has made the file, not yet its tables
        return []
    finally:
        index.close()


def drain(platform: ScriptedPlatform, quiet_s: float = 1.0) -> None:
    """Read what the node sent (its refusals of the hostile cases) until it is quiet,
    answering its own requests (keepalives)."""
    while True:
        try:
            msg = platform.receive(quiet_s)
        except (AssertionError, TimeoutError):
            return
        if isinstance(msg, SipRequest):
            platform.send(response_to(msg, 200, "OK", "d"))


def raw_message(body: bytes, content_length: str, sn: int, server: str = SERVER) -> bytes:
    head = bytes(query("udp", 1, "DeviceInfo", NODE, sn, server=server))
    head = head[:head.index(b"Content-Length:")]
    return head + f"Content-Length: {content_length}\r\n\r\n".encode() + body


def test_hostile_input_against_the_running_daemon(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264"})
    udp, tcp = ScriptedPlatform("udp"), ScriptedPlatform("tcp")
    data = tmp_path / "data"
    sip_port = free_port()
    config = write_config(tmp_path / "edge.toml", data, [(CAM, cam.url("/a"))],
                          extra=f"sip_port = {sip_port}\n" + platforms_toml(udp, tcp))
    daemon = Daemon(config).start()
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    try:
        register(udp)
        register(tcp)
        wait_for(lambda: runners(data).get("sip", {}).get("state") == "running", 10, "sip")
        body = bytes(query("udp", 1, "DeviceInfo", NODE, 1))
        body = body[body.index(b"<?xml"):]
        sdp = (b"v=0\r\no=x 0 0 IN IP4 127.0.0.1\r\ns=Playback\r\nc=IN IP4 127.0.0.1\r\n"
               b"t=1795312800 1795316400\r\nm=video 30000 RTP/AVP 96\r\ny=1200000001\r\n")
        cases = [
            raw_message(body, "\u00b2", 2),  # superscript two: isdigit() yes, int() no
            raw_message(body, "\uff13\uff10", 3),  # full-width
            raw_message(body, "9" * 40, 4),
            raw_message(body.replace(b"<SN>1</SN>", "<SN>\u00b2</SN>".encode()), str(
                len(body.replace(b"<SN>1</SN>", "<SN>\u00b2</SN>".encode()))), 5),
            bytes(invite(udp, CAM, sdp.replace(b"30000", "\u00b2".encode()), "h1")),
            bytes(invite(udp, CAM, sdp.replace(b"1795312800", "\uff11\uff17".encode()), "h2")),
            bytes(invite(udp, CAM, sdp.replace(b"1200000001", "\u0661200000001".encode()), "h3")),
            b"SIP/2.0 200 OK\r\nVia: x\r\nCall-ID: y\r\nCSeq: 1 REGISTER\r\nExpires: \xc2\xb2\r\n"
            b"Date: Sun, 22 Nov 2026 " + b"7" * 200 + b":00:00\r\n\r\n",
            b"MESSAGE sip:x SIP/2.0\r\nVia: \xff\xfe\r\n\r\n",
            b"[" * 60_000 + b"\r\n\r\n",
        ]
        for case in cases:
            stranger.sendto(case, ("127.0.0.1", sip_port))  # from anyone who reaches 5060
            udp.sock.sendto(case, ("127.0.0.1", sip_port))  # and from the platform itself
        # over TCP the stream is out of step after a bad Content-Length: the node drops the
        # connection and registers again on a new one
        assert tcp.conn is not None
        tcp.conn.sendall(raw_message(body, "\u00b2", 6, server=OTHER))
        again = tcp.request("REGISTER")
        tcp.send(response_to(again, 200, "OK", "t1"))

        # still a lower node: both platforms are answered, keepalives go on
        drain(udp)
        reply = udp.ask(query("udp", udp.port, "DeviceInfo", NODE, 50))
        assert reply.fields["Result"] == "OK"
        reply = tcp.ask(query("tcp", tcp.port, "DeviceInfo", NODE, 51, server=OTHER))
        assert reply.fields["Result"] == "OK"
        expect(udp, "MESSAGE", "Keepalive", timeout=12)
        sip = runners(data)["sip"]
        assert sip["state"] == "running" and sip["restarts"] == 0
        log = config.with_suffix(".log").read_text(errors="replace")
        assert "runner=sip died" not in log and "unexpected error" not in log
        assert "is not a number" in log  # each refusal says what was wrong
    finally:
        stranger.close()
        daemon.stop()
        udp.close()
        tcp.close()


def test_supervisor_threads_are_back_within_two_seconds_and_recording_never_stops(
    tmp_path: Path, broker: Broker, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264"})
    udp = ScriptedPlatform("udp")
    data = tmp_path / "data"
    config = write_config(tmp_path / "edge.toml", data, [(CAM, cam.url("/a"))],
                          extra=f"sip_port = {free_port()}\n" + broker.config()
                          + platforms_toml(udp))
    base = f"edge/{NODE}"
    sub = Subscriber(broker, [f"{base}/health"])
    # each fires once, 8 s after the daemon started, from inside its loop
    daemon = Daemon(config, env={"EDGE_INJECT_FAULT": "sip.loop:8,mqtt.loop:8,"
                                                      "retention.loop:8"}).start()
    try:
        first = register(udp)
        wait_for(lambda: ranges(data, CAM), 20, "recording")
        wait_for(lambda: sub.on(f"{base}/health"), 20, "health")
        # the SIP runner dies and its successor registers in a new dialog
        second = register(udp)
        assert second.header("Call-ID") != first.header("Call-ID")
        reply = udp.ask(query("udp", udp.port, "DeviceInfo", NODE, 60))
        assert reply.fields["Result"] == "OK"
        wait_for(lambda: all(runners(data).get(n, {}).get("restarts") == 1
                             and runners(data)[n]["state"] == "running"
                             for n in ("sip", "mqtt", "retention")), 15, "three restarts")
        log = config.with_suffix(".log")
        for name in ("sip", "mqtt", "retention"):
            died = log_times(log, rf"runner={name} died: InjectedFault")[0]
            [back] = log_times(log, rf"runner={name} running again")
            assert 0 < back - died <= 2.0, f"{name} back after {back - died:.2f} s"
        assert "Traceback" in log.read_text()  # the death is logged with its traceback
        # the broker sees the health again, listing the restart
        wait_for(lambda: any(r["name"] == "mqtt" and r["restarts"] == 1
                             for r in decode(sub.on(f"{base}/health")[-1])["runners"]),
                 15, "health after the restart")
        health = decode(sub.on(f"{base}/health")[-1])
        jsonschema.validate(health, SCHEMA)
        assert health["cameras"][0]["recording"]
        # recording never stopped: one contiguous range across all three deaths
        time.sleep(2)
        [(start, end)] = ranges(data, CAM)
        assert start < died - 4 and end > back
        assert runners(data)["recorder"]["restarts"] == 0
        assert daemon.proc is not None and daemon.proc.poll() is None
    finally:
        sub.close()
        daemon.stop()
        udp.close()


def test_camera_thread_faults_cost_at_most_a_reconnect(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264"})
    data = tmp_path / "data"
    config = write_config(tmp_path / "edge.toml", data, [(CAM, cam.url("/a"))])
    # 6 s: a session fails (reconnect), and at that turn of the loop the thread itself
    # dies (a new thread); 14 s: one packet fails (dropped, recording goes on)
    daemon = Daemon(config, env={"EDGE_INJECT_FAULT": "camera.session:6,camera.loop:6,"
                                                      "camera.packet:14"}).start()
    try:
        wait_for(lambda: ranges(data, CAM), 20, "recording")
        log = config.with_suffix(".log")
        wait_for(lambda: log_times(log, r"packet dropped after an unexpected error"), 30,
                 "the packet fault")
        time.sleep(4)
        [session_failed] = log_times(log, r"session failed unexpectedly")
        [thread_died] = log_times(log, r"runner=cam:%s died" % CAM)
        assert log_times(log, r"recorder thread restarting")
        found = ranges(data, CAM)
        gaps = [b[0] - a[1] for a, b in zip(found, found[1:])]
        assert len(gaps) <= 1 and all(g <= 5 for g in gaps), found
        assert found[-1][1] > time.time() - 3  # recording now
        assert thread_died >= session_failed
        status = json.loads((data / "status.json").read_text())
        assert status["cameras"][0]["thread_restarts"] == 1
        assert status["cameras"][0]["online"] and status["recorder_restarts"] == 0
    finally:
        daemon.stop()


def test_a_hostile_command_message_is_refused_and_health_goes_on(
    tmp_path: Path, broker: Broker, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264"})
    data = tmp_path / "data"
    config = write_config(tmp_path / "edge.toml", data, [(CAM, cam.url("/a"))],
                          extra=broker.config(allowed_commands=["ping", "health"]))
    base = f"edge/{NODE}"
    sub = Subscriber(broker, [f"{base}/health", f"{base}/cmd/#"])
    daemon = Daemon(config).start()
    try:
        wait_for(lambda: sub.on(f"{base}/health"), 20, "health")
        for payload in (b"[" * 200_000, b"\xff\xfe{", b'{"a": ' * 20 + b"1" + b"}" * 20,
                        b"[" * 10_000):
            sub.client.publish(f"{base}/cmd/ping", payload, qos=1)
        wait_for(lambda: len(sub.on(f"{base}/cmd/ping/reply")) == 4, 10, "four refusals")
        replies = [json.loads(r) for r in sub.on(f"{base}/cmd/ping/reply")]
        assert [r["ok"] for r in replies] == [False] * 4
        assert "exceeds" in replies[0]["error"] and "not UTF-8" in replies[1]["error"]
        assert "nested deeper" in replies[2]["error"] and "nested deeper" in replies[3]["error"]
        sub.client.publish(f"{base}/cmd/ping", b"{}", qos=1)
        wait_for(lambda: len(sub.on(f"{base}/cmd/ping/reply")) == 5, 10, "a real ping")
        assert json.loads(sub.on(f"{base}/cmd/ping/reply")[-1])["ok"]
        seen = len(sub.on(f"{base}/health"))
        wait_for(lambda: len(sub.on(f"{base}/health")) > seen, 15, "health goes on")
        assert runners(data)["mqtt"]["restarts"] == 0
    finally:
        sub.close()
        daemon.stop()


def test_a_live_session_that_fails_ends_alone(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    from tests.integration.test_media_live import Receiver, invite_when_online
    from tests.integration.scripted_platform import in_dialog, offer

    cam = cameras({"/a": "h264"})
    udp = ScriptedPlatform("udp")
    data = tmp_path / "data"
    rtp = min(free_port(), 65_000)
    config = write_config(tmp_path / "edge.toml", data, [(CAM, cam.url("/a"))],
                          extra=f"sip_port = {free_port()}\n" + platforms_toml(udp)
                          + f"\n[media]\nrtp_port_range = [{rtp}, {rtp + 16}]\n")
    # the first frame any live session sends raises
    daemon = Daemon(config, env={"EDGE_INJECT_FAULT": "media.send:0"}).start()
    receivers = [Receiver("udp"), Receiver("udp")]
    try:
        register(udp)
        wait_for(lambda: ranges(data, CAM), 20, "recording")
        for receiver in receivers:
            receiver.start()
        request, ok, _, _ = invite_when_online(udp, CAM, offer("udp", receivers[0].port), "f1")
        assert ok.status == 200
        udp.send(in_dialog("ACK", request, ok, 1))
        bye = udp.request("BYE")  # our side ended the failed session and says so
        assert bye.header("Call-ID") == request.header("Call-ID")
        udp.send(response_to(bye, 200, "OK", "b"))
        request, ok, _, _ = invite_when_online(udp, CAM, offer("udp", receivers[1].port), "f2")
        assert ok.status == 200
        udp.send(in_dialog("ACK", request, ok, 1))
        wait_for(lambda: len(receivers[1].packets) > 100, 10, "the next session's media")
        log = config.with_suffix(".log").read_text(errors="replace")
        assert "InjectedFault" in log and "internal error" in log
        time.sleep(1)
        [(start, end)] = ranges(data, CAM)  # recording went on throughout
        assert end > time.time() - 3
    finally:
        for receiver in receivers:
            receiver.close()
        daemon.stop()
        udp.close()


def test_a_dead_or_hung_web_ui_is_restarted_and_recording_goes_on(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    import os
    import signal
    import urllib.request

    data, port, config, daemon = daemon_with_web(tmp_path, cameras)

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def web_pid() -> int:
        assert daemon.proc is not None
        out = subprocess.run(["pgrep", "-f", "-P", str(daemon.proc.pid), " _web "],
                             capture_output=True, text=True).stdout.split()
        return int(out[0]) if out else 0

    try:
        wait_for(answers, 30, "the web UI")
        wait_for(lambda: ranges(data, CAM), 20, "recording")
        first = web_pid()
        os.kill(first, signal.SIGKILL)  # a crash
        wait_for(lambda: web_pid() not in (0, first) and answers(), 15, "a new web process")
        second = web_pid()
        # the supervisor probes every 2 s: let it see the new one answer, so the hang is
        # judged by the stale limit (30 s), not the start-up grace (hung before its first
        # answer, it would have 180 s; the test waits for that too, only longer)
        time.sleep(5)
        os.kill(second, signal.SIGSTOP)  # a hang: alive, answering nothing
        wait_for(lambda: web_pid() not in (0, second) and answers(), 60 + START_GRACE_S,
                 "the hung one replaced")
        wait_for(lambda: runners(data)["web"]["restarts"] == 2
                 and runners(data)["web"]["state"] == "running", 10, "two restarts listed")
        time.sleep(2)
        [(start, end)] = ranges(data, CAM)  # recording never stopped
        assert end > time.time() - 4
        log = config.with_suffix(".log").read_text(errors="replace")
        assert "runner=web" in log and "stopped answering; killing it" in log
    finally:
        daemon.stop()


def test_every_child_dies_with_the_daemon(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    """The daemon alone SIGKILLed (outside systemd nobody kills its group): the recorder,
    the web UI, the thumbnails and the detector exit by themselves, and the next ``edge
    run`` gets the web port (a web UI left behind kept it and served a stale node)."""
    import os
    import signal

    import psutil

    data, port, config, daemon = daemon_with_web(tmp_path, cameras)
    assert daemon.proc is not None

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def children(pid: int) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    try:
        wait_for(lambda: {"recorder", "web", "thumbs"} <= {
            r["name"] for r in runners(data).values() if r["state"] == "running"}
            if runners(data) else False, 60, "every runner running")
        kids = children(daemon.proc.pid)
        assert len(kids) >= 3, kids
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait()
        wait_for(lambda: not [k for k in kids if alive(k)], 15, "no child left")
        (data / "status.json").unlink()  # the killed daemon's
        again = Daemon(config).start()
        try:
            wait_for(lambda: runners(data).get("web", {}).get("state") == "running"
                     and runners(data)["web"]["restarts"] == 0, 60, "the next daemon's web UI")
        finally:
            again.stop()
    finally:
        daemon.stop()
