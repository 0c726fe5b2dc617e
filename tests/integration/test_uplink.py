"""A remote site on 4G: the GB/T 28181 agent and the MQTT runner over a bad link (the
user-space links of edge/sim/impair.py between the node and a real peer), and the bytes
the node counts for its SIM."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest

from edge.config import parse as parse_config
from edge.gb28181.answers import format_local_time
from edge.gb28181.model import Channel
from edge.gb28181.runner import SipRunner
from edge.record.index import Index
from edge.sim.impair import LinkProfile, TcpLink, UdpLink
from edge.sim.server import CameraServer, free_port
from edge.uplink.meter import Meter
from edge.uplink.runner import ALARM_OVER, ALARM_WARNING, ALARM_WEAK_SIGNAL, NODE, UplinkRunner
from edge.uplink.store import ByteStore
from edge.uplink.tcpinfo import IPV4_TCP_HEADERS, tcp_counters
from tests.conftest import Daemon, wait_for, write_config
from tests.integration.broker import Broker, Subscriber
from tests.integration.scripted_platform import NODE as NODE_ID
from tests.integration.scripted_platform import PASSWORD, SERVER, AnsweringPlatform

CHANNEL = "34020000001320000001"
KEEPALIVE_S = 5


def agent(tmp_path: Path, link: UdpLink, **platform: object) -> tuple[SipRunner, threading.Event]:
    cfg = parse_config({
        "node": {"id": NODE_ID, "data_dir": str(tmp_path / "data"), "sip_port": free_port()},
        "platforms": [{"id": SERVER, "host": "127.0.0.1", "port": link.address[1],
                       "password": PASSWORD, "keepalive_interval": KEEPALIVE_S, **platform}],
    })
    (tmp_path / "data").mkdir(exist_ok=True)
    stop = threading.Event()
    runner = SipRunner(cfg, stop, lambda: [Channel(CHANNEL, "村口", True, True)])
    runner.start()
    return runner, stop


@pytest.fixture
def platform() -> Iterator[AnsweringPlatform]:
    p = AnsweringPlatform()
    p.start()
    yield p
    p.close()


def registered(runner: SipRunner) -> bool:
    return bool(runner.status()) and bool(runner.status()[0]["registered"])


def test_register_keepalive_and_queries_at_20_percent_loss_and_800_ms_rtt(
        tmp_path: Path, platform: AnsweringPlatform) -> None:
    """RFC 3261 retransmits carry the agent through; a query retransmitted by the
    platform is answered from the cache, never handled twice."""
    link = UdpLink(("127.0.0.1", platform.port),
                   LinkProfile(delay_s=0.4, jitter_s=0.05, loss=0.2, duplicate=0.05, reorder=0.05),
                   seed=7)
    runner, stop = agent(tmp_path, link)
    try:
        wait_for(lambda: registered(runner), 60, "registered over the lossy link")
        for sn in (101, 102, 103):
            answer = platform.ask("DeviceInfo", NODE_ID, sn, timeout=40)
            assert answer.cmd_type == "DeviceInfo" and answer.device_id == NODE_ID
        before = len(platform.keepalives())
        time.sleep(4 * KEEPALIVE_S)
        assert len(platform.keepalives()) > before, "no keepalive got through"
        assert registered(runner), runner.status()[0]["last_error"]
        # each query answered by one MESSAGE (its retransmits share its Call-ID)
        for sn in (101, 102, 103):
            assert len({call_id for call_id, _ in platform.answers[sn]}) == 1, sn
        assert link.up.packets > 0 and link.down.packets > 0
    finally:
        stop.set()
        runner.join(10)
        link.close()


def test_nat_rebinding_the_platform_reaches_us_again(tmp_path: Path,
                                                     platform: AnsweringPlatform) -> None:
    """The carrier moves our public port: the next keepalive's answer shows it, the agent
    registers again at once, and the platform's queries reach us at the new port."""
    link = UdpLink(("127.0.0.1", platform.port))
    runner, stop = agent(tmp_path, link)
    try:
        wait_for(lambda: registered(runner) and platform.registrations, 20, "registered")
        old_port = link.public_port
        seen = len(platform.registrations)
        link.rebind()
        rebound = time.monotonic()
        wait_for(lambda: len(platform.registrations) > seen, 2 * KEEPALIVE_S,
                 "a registration from the new public port")
        assert time.monotonic() - rebound <= KEEPALIVE_S + 2
        assert platform.sip.peer == ("127.0.0.1", link.public_port) != ("127.0.0.1", old_port)
        assert platform.ask("DeviceStatus", NODE_ID, 201, timeout=10).cmd_type == "DeviceStatus"
    finally:
        stop.set()
        runner.join(10)
        link.close()


def test_a_silent_platform_is_registered_again_within_a_keepalive_interval(
        tmp_path: Path, platform: AnsweringPlatform) -> None:
    link = UdpLink(("127.0.0.1", platform.port))
    runner, stop = agent(tmp_path, link)
    try:
        wait_for(lambda: registered(runner), 20, "registered")
        time.sleep(1)
        platform.silent = True
        quiet = time.time()
        # the next keepalive goes unanswered; when the one after it is due, a REGISTER
        wait_for(lambda: any(m.method == "REGISTER" and t > quiet
                             for t, m, _ in list(platform.requests)), 3 * KEEPALIVE_S,
                 "a REGISTER after the platform went quiet")
        first = min(t for t, m, _ in platform.requests if m.method == "REGISTER" and t > quiet)
        assert first - quiet <= 2 * KEEPALIVE_S + 1
        platform.silent = False
        wait_for(lambda: registered(runner), 60, "registered again")
    finally:
        stop.set()
        runner.join(10)
        link.close()


def test_nat_keepalive_holds_a_short_lived_mapping_open(tmp_path: Path,
                                                        platform: AnsweringPlatform) -> None:
    """A carrier NAT that forgets a UDP mapping after 3 s of silence from inside (the
    keepalive is every 5 s): without pings the platform's query is dropped at the NAT;
    with uplink.nat_keepalive = 2 s it gets through."""
    link = UdpLink(("127.0.0.1", platform.port), nat_timeout_s=3.0)
    runner, stop = agent(tmp_path, link, keepalive_interval=30)
    try:
        wait_for(lambda: registered(runner), 20, "registered")
        time.sleep(4)  # the mapping has timed out
        with pytest.raises(AssertionError):
            platform.ask("DeviceInfo", NODE_ID, 301, timeout=3)
        assert link.dropped_inbound > 0
    finally:
        stop.set()
        runner.join(10)
        link.close()
    link = UdpLink(("127.0.0.1", platform.port), nat_timeout_s=3.0)
    cfg_dir = tmp_path / "pinged"
    cfg_dir.mkdir()
    cfg = parse_config({
        "node": {"id": NODE_ID, "data_dir": str(cfg_dir), "sip_port": free_port()},
        "platforms": [{"id": SERVER, "host": "127.0.0.1", "port": link.address[1],
                       "password": PASSWORD, "keepalive_interval": 30}],
        "uplink": {"nat_keepalive": 5},
    })
    # 5 s is the lowest the config allows; this NAT forgets after 3: make it forget after 6
    link.nat_timeout_s = 6.0
    stop = threading.Event()
    runner = SipRunner(cfg, stop, lambda: [Channel(CHANNEL, "村口", True, True)])
    runner.start()
    try:
        wait_for(lambda: registered(runner), 20, "registered")
        time.sleep(8)  # longer than the NAT timeout: only the pings kept it
        dropped = link.dropped_inbound
        assert platform.ask("DeviceInfo", NODE_ID, 302, timeout=5).cmd_type == "DeviceInfo"
        assert link.dropped_inbound == dropped
    finally:
        stop.set()
        runner.join(10)
        link.close()


def test_footage_of_a_link_outage_is_there_for_the_platform_afterwards(
        tmp_path: Path, platform: AnsweringPlatform,
        cameras: Callable[..., CameraServer]) -> None:
    """The 4G link goes down for 20 s (every datagram lost both ways): recording goes on,
    the agent registers again when the link is back, and the platform's record search for
    the outage finds it recorded whole — what it then downloads at downloadspeed
    (download itself: test_media_live.py)."""
    link = UdpLink(("127.0.0.1", platform.port))
    server = cameras({"/a": "h264"})
    config = write_config(
        tmp_path / "edge.toml", tmp_path / "data", [(CHANNEL, server.url("/a"))],
        extra=f"sip_port = {free_port()}\n[web]\nenabled = false\n[[platforms]]\n"
              f'id = "{SERVER}"\nhost = "127.0.0.1"\nport = {link.address[1]}\n'
              f'password = "{PASSWORD}"\nkeepalive_interval = {KEEPALIVE_S}\n')
    daemon = Daemon(config).start()
    try:
        wait_for(lambda: platform.registrations, 30, "registered")
        time.sleep(3)
        seen = len(platform.registrations)
        link.profile.down = True
        down = time.time()
        time.sleep(20)
        link.profile.down = False
        up = time.time()
        wait_for(lambda: len(platform.registrations) > seen, 60, "registered after the outage")
        index = Index(tmp_path / "data", readonly=True)
        try:  # the index trails the camera by its flush interval: ask once it is past `up`
            wait_for(lambda: (index.summary(CHANNEL)[1] or 0) >= up + 1, 30,
                     "the index past the end of the outage")
        finally:
            index.close()
        tz = "Asia/Shanghai"
        answer = platform.ask("RecordInfo", CHANNEL, 401, fields=[
            ("StartTime", format_local_time(down, tz)), ("EndTime", format_local_time(up, tz)),
            ("Type", "all")])
        items = list(answer.element.iter("Item"))
        assert len(items) == 1, [i.findtext("StartTime") for i in items]  # no gap
        assert items[0].findtext("StartTime") == format_local_time(down, tz)
        assert items[0].findtext("EndTime") == format_local_time(up, tz)
    finally:
        daemon.stop()
        link.close()


def test_tcp_counters_see_payload_and_segments() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    client.sendall(b"x" * 100_000)
    got = 0
    while got < 100_000:
        got += len(peer.recv(65_536))
    time.sleep(0.1)
    sent = tcp_counters(client)
    received = tcp_counters(peer)
    assert sent is not None and received is not None
    assert sent.bytes_sent >= 100_000 and received.bytes_received == 100_000
    assert sent.wire_sent >= 100_000 + IPV4_TCP_HEADERS * 2
    for s in (client, peer, server):
        s.close()


def test_mqtt_through_a_stalled_link_reconnects_and_loses_nothing(
        tmp_path: Path, broker: Broker) -> None:
    """The link black-holes (no RST, no FIN): the node notices within its keepalive and
    stall timeout, reconnects once the link is back, and the event written meanwhile
    arrives; the MQTT bytes are counted in status.json."""
    link = TcpLink(("127.0.0.1", broker.port))
    sub = Subscriber(broker, [f"edge/{NODE_ID}/events"], client_id="stall-sub")
    config = write_config(
        tmp_path / "edge.toml", tmp_path / "data", [],
        extra=broker.config(port=link.address[1], stall_timeout=5, keepalive=5))
    daemon = Daemon(config).start()
    try:
        wait_for(lambda: link.accepted == 1 and _mqtt_connected(tmp_path), 30, "connected")
        link.stall()
        stalled = time.monotonic()
        from edge.mqtt.outbox import Outbox

        outbox = Outbox(tmp_path / "data")
        outbox.put("events", {"type": "test", "seq": 0}, time.time())
        wait_for(lambda: not _mqtt_connected(tmp_path), 30, "the stall noticed")
        noticed = time.monotonic() - stalled
        assert noticed <= 2 * 5 + 5, f"noticed after {noticed:.1f} s"
        for seq in range(1, 200):  # written while the link is down
            outbox.put("events", {"type": "test", "seq": seq}, time.time())
        outbox.close()
        time.sleep(5)
        link.stall(False)

        def seqs() -> list[int]:
            return [json.loads(p)["seq"] for p in sub.on(f"edge/{NODE_ID}/events")
                    if b'"seq"' in p]

        wait_for(lambda: len(set(seqs())) == 200, 90, "every event after the stall")
        assert list(dict.fromkeys(seqs())) == list(range(200))  # in order (repeats allowed)
        wait_for(lambda: link.accepted >= 2 and _mqtt_connected(tmp_path), 90, "reconnected")
        log = (tmp_path / "edge.log").read_text()
        assert "stalled" in log or "lost" in log
        wait_for(lambda: _uplink(tmp_path).get("today", {}).get("mqtt", {}).get("sent", 0) > 0,
                 90, "MQTT bytes counted")
    finally:
        daemon.stop()
        sub.close()
        link.close()


def _status(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / "data" / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _mqtt_connected(tmp_path: Path) -> bool:
    return bool(_status(tmp_path).get("mqtt", {}).get("connected"))


def _uplink(tmp_path: Path) -> dict:
    return _status(tmp_path).get("uplink", {})


def test_the_month_over_budget_raises_alarms_and_restricts(tmp_path: Path) -> None:
    """Bytes counted this month (seeded: 85 then 101 MB of a 100-MB SIM) raise the 80 %
    alarm, then the 100 % one with the restriction; the next month clears both."""
    data = tmp_path / "data"
    data.mkdir()
    cfg = parse_config({"node": {"id": NODE_ID, "data_dir": str(data)},
                        "uplink": {"monthly_budget_mb": 100}})
    index = Index(data)
    store = ByteStore(index.db)
    today = datetime.now(ZoneInfo(cfg.node.timezone)).date().isoformat()
    store.add(today, {"mqtt": (40_000_000, 5_000_000), "sip": (40_000_000, 0)})
    meter = Meter()
    stop = threading.Event()

    def turn() -> UplinkRunner:
        runner = UplinkRunner(cfg, stop, lambda: {}, meter)
        runner._count()
        runner._flush(index, store)
        return runner

    runner = turn()
    assert runner.state()["budget"]["level"] == "warning" and not runner.restricted
    assert {a.kind for a in index.alarms()} == {ALARM_WARNING}
    meter.datagram("sip", sent=1200)  # counted by the SIP runner's socket
    store.add(today, {"media": (16_000_000, 0)})
    runner = turn()
    state = runner.state()
    assert state["budget"]["level"] == "over" and runner.restricted
    assert state["today"]["sip"]["sent"] == 40_000_000 + 1200 + 28
    assert ALARM_OVER in {a.kind for a in index.alarms()}
    assert all(a.channel_id == NODE for a in index.alarms())
    index.db.execute("DELETE FROM uplink_bytes")  # a new month
    turn()
    assert not index.alarms()
    index.close()


FAKE_MMCLI = """#!/bin/sh
# A stand-in for ModemManager's mmcli: this machine has no modem. It prints what an EC25 on
# China Mobile LTE prints (-K output), with the signal the test writes into signal.txt.
case "$*" in
  *signal-get*) printf 'modem.signal.lte.rsrp : -%s.00\\nmodem.signal.lte.snr : 2.50\\n' \\
                  "$(cat "$(dirname "$0")/rsrp.txt")" ;;
  *) printf 'modem.generic.state : connected\\nmodem.generic.access-technologies.value[1] : lte\\n'
     printf 'modem.generic.signal-quality.value : %s\\n' "$(cat "$(dirname "$0")/signal.txt")"
     printf 'modem.3gpp.operator-name : CHINA MOBILE\\nmodem.3gpp.registration-state : home\\n' ;;
esac
"""


def test_weak_4g_signal_raises_an_alarm_and_clears(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "mmcli").write_text(FAKE_MMCLI)
    (tools / "mmcli").chmod(0o755)
    (tools / "signal.txt").write_text("12")
    (tools / "rsrp.txt").write_text("115")
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    data = tmp_path / "data"
    data.mkdir()
    cfg = parse_config({"node": {"id": NODE_ID, "data_dir": str(data)}})
    index = Index(data)
    runner = UplinkRunner(cfg, threading.Event(), lambda: {}, Meter())
    (data / "modem-resets.log").write_text("2026-12-03T01:00:00Z reset after 5 minutes\n")
    runner._watch_modem(index)
    [alarm] = index.alarms()
    assert alarm.kind == ALARM_WEAK_SIGNAL and "12 %" in alarm.message
    runner._flush(index, ByteStore(index.db))
    modem = runner.state()["modem"]
    assert (modem["signal_quality_percent"], modem["rsrp_dbm"], modem["operator"],
            modem["watchdog_resets"]) == (12, -115.0, "CHINA MOBILE", 1)
    (tools / "signal.txt").write_text("64")
    runner._watch_modem(index)
    assert not index.alarms()
    index.close()
