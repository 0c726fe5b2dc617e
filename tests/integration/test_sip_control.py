"""Control, configuration, subscriptions and hostile input, against the SIP runner on
real sockets with a scripted upper platform (tests/integration/scripted_platform.py)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from edge.config import parse as parse_config
from edge.gb28181.manscdp import parse_body, render_group
from edge.gb28181.model import Channel
from edge.gb28181.runner import SipRunner
from edge.gb28181.sip.message import SipResponse, response_to
from edge.record.index import Index
from edge.sim.server import free_port
from tests.integration.scripted_platform import (
    NODE, PASSWORD, SERVER, ScriptedPlatform, expect, query, register, subscribe,
)

CAMS = [Channel("34020000001320000001", "村口东", True, True),
        Channel("34020000001320000002", "村委会", True, True)]
OTHER = "34020000002000000002"  # a second platform, over TCP


class Node:
    """A SipRunner with two platforms (UDP and TCP) and channels the test can flip."""

    def __init__(self, data_dir: Path, allow_reboot: bool = False,
                 node: dict[str, str] | None = None) -> None:
        self.udp, self.tcp = ScriptedPlatform("udp"), ScriptedPlatform("tcp")
        self.data_dir = data_dir
        self.sip_port = free_port()
        self.cfg = parse_config({
            "node": {"id": NODE, "data_dir": str(data_dir), "sip_port": self.sip_port,
                     **(node or {})},
            "platforms": [
                {"id": SERVER, "host": "127.0.0.1", "port": self.udp.port,
                 "password": PASSWORD, "keepalive_interval": 5, "allow_reboot": allow_reboot},
                {"id": OTHER, "host": "127.0.0.1", "port": self.tcp.port, "transport": "tcp",
                 "password": PASSWORD, "keepalive_interval": 5, "catalog_by_message": True}],
        })
        self.channels = list(CAMS)
        self.reboots = 0
        Index(data_dir).close()
        self.start()

    def start(self) -> None:
        self.stop_event = threading.Event()
        self.runner = SipRunner(self.cfg, self.stop_event, lambda: list(self.channels),
                                self._reboot)
        self.runner.start()
        register(self.udp, username=self.cfg.node.id)
        register(self.tcp, username=self.cfg.node.id)

    def _reboot(self) -> None:
        self.reboots += 1

    def stop(self) -> None:
        """A clean stop: both platforms see and answer the unregister."""
        self.stop_event.set()
        for platform in (self.udp, self.tcp):
            bye = platform.request("REGISTER")
            while bye.header("Expires") != "0":  # skip a late retransmit of a refresh
                bye = platform.request("REGISTER")
            platform.send(response_to(bye, 200, "OK", "t1"))
        self.runner.join(10)
        assert not self.runner.is_alive()

    def ask(self, cmd: str, target: str, sn: int, fields: list[tuple[str, str]] = (),
            root: str = "Query", inner: str = "") -> dict[str, str]:
        reply = self.udp.ask(query("udp", self.udp.port, cmd, target, sn, fields, root, inner))
        assert reply.cmd_type == cmd
        return reply.fields


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    yield n
    n.stop()
    n.udp.close()
    n.tcp.close()


def test_device_control_commands_take_effect_and_are_audited(node: Node) -> None:
    cam = CAMS[0].id
    before = time.time()
    assert node.ask("DeviceControl", cam, 40, [("RecordCmd", "Record")], "Control")["Result"] == "OK"
    index = Index(node.data_dir, readonly=True)
    [lock] = index.locks(cam)
    assert before <= lock.start_ts and lock.end_ts > time.time() + 3000  # open-ended, bounded
    assert node.ask("DeviceControl", cam, 41, [("RecordCmd", "StopRecord")], "Control")["Result"] == "OK"
    [lock] = index.locks(cam)
    assert lock.end_ts <= time.time()
    assert node.ask("DeviceControl", NODE, 42, [("GuardCmd", "ResetGuard")],
                    "Control")["Result"] == "OK"
    saved = json.loads((node.data_dir / "gb28181.json").read_text())
    assert saved["disarmed"] == sorted(c.id for c in CAMS)
    assert node.ask("DeviceControl", cam, 43, [("PTZCmd", "A50F010150000006")],
                    "Control")["Result"] == "ERROR"  # a fixed camera
    assert node.ask("DeviceControl", NODE, 44, [("TeleBoot", "Boot")],
                    "Control")["Result"] == "ERROR"  # allow_reboot is off
    assert node.reboots == 0
    assert node.ask("NoSuchQuery", NODE, 45)["Result"] == "ERROR"
    actions = [(actor, action) for _, actor, action, _ in index.audit_log()]
    assert actions == [(f"gb28181:{SERVER}", a) for a in
                       ("record_cmd", "record_cmd", "guard_cmd", "guard_cmd")]
    index.close()


def test_teleboot_when_allowed(tmp_path: Path) -> None:
    n = Node(tmp_path, allow_reboot=True)
    try:
        assert n.ask("DeviceControl", NODE, 50, [("TeleBoot", "Boot")], "Control")["Result"] == "OK"
        assert n.reboots == 1
        index = Index(tmp_path, readonly=True)
        assert [a for _, _, a, _ in index.audit_log()] == ["teleboot"]
        index.close()
    finally:
        n.stop()
        n.udp.close()
        n.tcp.close()


def test_as_a_lower_platform_the_catalog_is_a_tree(tmp_path: Path) -> None:
    platform_id = "34020000002000000077"
    n = Node(tmp_path, node={"id": platform_id, "gb_role": "platform"})
    try:
        replies = n.udp.ask_list(query("udp", n.udp.port, "Catalog", platform_id, 80))
        items = {i.findtext("DeviceID"): i for r in replies for i in r.element.iter("Item")}
        assert replies[0].fields["SumNum"] == "4" and len(items) == 4  # group, organisation, 2
        group = "3402000000215" + platform_id[13:]
        org = "3402000000216" + platform_id[13:]
        assert items[org].findtext("ParentID") == group
        assert {items[c.id].findtext("ParentID") for c in CAMS} == {org}
        info = n.ask("DeviceInfo", platform_id, 81)
        assert info["DeviceType"] == "Platform"
    finally:
        n.stop()
        n.udp.close()
        n.tcp.close()


def test_device_config_changes_keepalive_and_survives_a_restart(node: Node) -> None:
    basic = node.ask("ConfigDownload", NODE, 60, [("ConfigType", "BasicParam")])
    assert basic["Result"] == "OK"
    inner = render_group("BasicParam", [("Name", "新村监控室"), ("HeartBeatInterval", "7"),
                                        ("HeartBeatCount", "4")])
    assert node.ask("DeviceConfig", NODE, 61, [], "Control", inner)["Result"] == "OK"
    assert node.runner.status()[0]["keepalive_interval_s"] == 7
    assert node.runner.status()[1]["keepalive_interval_s"] == 5  # the other platform's own
    node.stop()
    node.start()  # a restart: the platform's settings hold
    assert node.runner.status()[0]["keepalive_interval_s"] == 7
    info = node.ask("DeviceInfo", NODE, 62)
    assert info["DeviceName"] == "新村监控室"
    reply = node.udp.ask(query("udp", node.udp.port, "ConfigDownload", NODE, 63,
                               [("ConfigType", "BasicParam")]))
    assert reply.element.findtext("BasicParam/HeartBeatCount") == "4"


def test_catalog_and_alarm_subscriptions_carry_changes(node: Node) -> None:
    for event, call_id in (("Catalog;id=1", "sub-cat"), ("presence", "sub-alarm")):
        node.udp.send(subscribe("udp", node.udp.port, event, 600, call_id))
        ok = node.udp.receive()
        assert isinstance(ok, SipResponse) and ok.status == 200 and ok.header("Expires") == "600"
        assert parse_body(ok.body).fields["Result"] == "OK"
    node.channels[1] = Channel(CAMS[1].id, CAMS[1].name, False, False)  # the camera goes dark
    notify, body = expect(node.udp, "NOTIFY", "Catalog")
    assert notify.header("Call-ID") == "sub-cat" and notify.header("Event") == "Catalog;id=1"
    assert [(i.findtext("DeviceID"), i.findtext("Event"))
            for i in body.element.iter("Item")] == [(CAMS[1].id, "OFF")]
    notify, alarm = expect(node.udp, "NOTIFY", "Alarm")
    assert notify.header("Call-ID") == "sub-alarm"
    assert (alarm.device_id, alarm.element.findtext("Info/AlarmType")) == (CAMS[1].id, "1")
    # the TCP platform never subscribed: with catalog_by_message the change comes as a
    # MESSAGE, and the alarm as a MESSAGE in any case
    _, body = expect(node.tcp, "MESSAGE", "Catalog")
    assert body.root == "Notify" and [(i.findtext("DeviceID"), i.findtext("Event"))
                                      for i in body.element.iter("Item")] == [(CAMS[1].id, "OFF")]
    _, alarm = expect(node.tcp, "MESSAGE", "Alarm")
    assert alarm.device_id == CAMS[1].id
    node.udp.send(subscribe("udp", node.udp.port, "Catalog;id=1", 0, "sub-cat"))
    while not isinstance(ended := node.udp.receive(), SipResponse):
        pass
    assert ended.status == 200 and ended.header("Expires") == "0"
    assert node.runner.status()[0]["subscriptions"] == ["Alarm"]


def test_hostile_input_costs_one_log_line_each(node: Node,
                                               caplog: pytest.LogCaptureFixture) -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    target = ("127.0.0.1", node.sip_port)

    def lines(needle: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if needle in r.getMessage()]

    def one_line(needle: str) -> None:
        deadline = time.monotonic() + 5
        while not lines(needle) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(lines(needle)) == 1, lines(needle) or f"no log line with {needle!r}"

    peer.sendto(b"\x00\xff garbage \r\n\r\n", target)
    one_line("dropped datagram from 127.0.0.1")
    truncated = bytes(query("udp", 1, "Catalog", NODE, 70))[:90]
    peer.sendto(truncated, target)
    assert len(lines("dropped datagram")) in (1, 2)  # "truncated" is one more line
    # the largest datagram UDP carries (a 10 MB body can only come over TCP, below)
    big = query("udp", node.udp.port, "Catalog", NODE, 71)
    node.udp.send(type(big)(big.method, big.uri, big.headers, b"<" * 65_000))
    assert node.udp.receive().status == 400
    one_line("MANSCDP body is not well-formed")
    stranger = query("udp", 1, "Catalog", NODE, 72, server="34020000002000000099")
    peer.sendto(bytes(stranger), target)
    assert peer.recvfrom(65_535)[0].startswith(b"SIP/2.0 403")
    one_line("from unknown sender")
    bomb = (b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;'
            b'&a;&a;&a;&a;&a;&a;&a;">]><Query><CmdType>&b;</CmdType><SN>1</SN></Query>')
    request = query("udp", node.udp.port, "Catalog", NODE, 73)
    node.udp.send(type(request)(request.method, request.uri, request.headers, bomb))
    assert node.udp.receive().status == 400
    one_line("MANSCDP body refused")
    # TCP: a 10 MB body announced on the other platform's connection
    assert node.tcp.conn is not None
    node.tcp.conn.sendall(b"MESSAGE sip:x SIP/2.0\r\nCall-ID: big\r\nCSeq: 1 MESSAGE\r\n"
                          b"Content-Length: 10485760\r\n\r\n" + b"<" * 65_536)
    one_line(f"platform={OTHER} TCP bad SIP on the stream")
    refresh = node.tcp.request("REGISTER")  # on a new connection, at once
    node.tcp.send(response_to(refresh, 200, "OK", "t1"))
    # nothing else broke: both platforms are answered
    assert node.ask("Catalog", NODE, 74)["SumNum"] == "2"
    reply = node.tcp.ask(query("tcp", node.tcp.port, "DeviceInfo", NODE, 75, server=OTHER))
    assert reply.fields["Result"] == "OK"
    peer.close()
