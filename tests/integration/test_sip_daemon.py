"""`edge run` as a GB/T 28181 lower node: a 16-channel catalog in several packets, record
search over footage the daemon really recorded from the simulated cameras, and a
camera that dies reported by catalog NOTIFY and a video-loss alarm."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

from edge.gb28181.answers import format_local_time
from edge.gb28181.sip.message import SipResponse, response_to, with_header
from edge.record.index import Index
from edge.sim.server import CameraServer, free_port
from tests.conftest import Daemon, wait_for, write_config
from tests.integration.scripted_platform import (
    CHALLENGE, NODE, PASSWORD, SERVER, ScriptedPlatform, expect, query, register, subscribe,
)

TZ = "Asia/Shanghai"


def channel(i: int) -> str:
    return f"340200000013200000{i:02d}"


def test_daemon_catalog_record_search_and_video_loss(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    live = cameras({"/a": "h264", "/b": "h264_g711a"})
    doomed = cameras({"/c": "h265"})
    dead_port = free_port()  # nothing listens: these cameras stay offline
    cams = [(channel(1), live.url("/a")), (channel(2), live.url("/b")),
            (channel(3), doomed.url("/c"))]
    cams += [(channel(i), f"rtsp://127.0.0.1:{dead_port}/none") for i in range(4, 17)]
    platform = ScriptedPlatform("udp")
    data = tmp_path / "data"
    config = write_config(
        tmp_path / "edge.toml", data, cams,
        extra=f"sip_port = {free_port()}\n\n[[platforms]]\nid = \"{SERVER}\"\nhost = \"127.0.0.1\"\n"
              f"port = {platform.port}\npassword = \"{PASSWORD}\"\nkeepalive_interval = 5")
    daemon = Daemon(config).start()
    try:
        register(platform)
        index = Index(data, readonly=True)
        wait_for(lambda: all(index.summary(channel(i))[2] > 0 for i in (1, 2, 3)), 30,
                 "three live cameras recording")
        sn = 100
        online: list[str] = []
        deadline = time.monotonic() + 30
        while len(online) < 3 and time.monotonic() < deadline:
            sn += 1
            platform.send(query("udp", platform.port, "Catalog", NODE, sn))
            items, total = [], None
            while total is None or len(items) < total:  # one MESSAGE per packet
                _, packet = expect(platform, "MESSAGE", "Catalog")
                assert packet.sn == sn
                total = int(packet.fields["SumNum"])
                items += list(packet.element.iter("Item"))
            online = [i.findtext("DeviceID") for i in items if i.findtext("Status") == "ON"]
        assert total == 16 and len({i.findtext("DeviceID") for i in items}) == 16
        assert sorted(online) == [channel(1), channel(2), channel(3)]

        # the record search answers with what the index holds, in local time
        time.sleep(3)
        now = time.time()
        first, _, _, _ = index.summary(channel(1))
        records = platform.ask(query("udp", platform.port, "RecordInfo", channel(1), 200, [
            ("StartTime", format_local_time(now - 600, TZ)),
            ("EndTime", format_local_time(now + 600, TZ)), ("Type", "all")]))
        [item] = records.element.iter("Item")
        assert item.findtext("StartTime") == format_local_time(first, TZ)
        end = item.findtext("EndTime")
        assert format_local_time(now - 5, TZ) <= end <= format_local_time(time.time(), TZ)
        empty = platform.ask(query("udp", platform.port, "RecordInfo", channel(9), 201, [
            ("StartTime", format_local_time(now - 600, TZ)),
            ("EndTime", format_local_time(now + 600, TZ))]))
        assert empty.fields["SumNum"] == "0"

        # a camera dies: the subscribed catalog hears OFF, the platform gets a video-loss alarm
        platform.send(subscribe("udp", platform.port, "Catalog", 600, "daemon-sub"))
        while not isinstance(ok := platform.receive(), SipResponse):
            pass
        assert ok.status == 200
        doomed.stop()
        _, change = expect(platform, "NOTIFY", "Catalog", timeout=30)
        assert [(i.findtext("DeviceID"), i.findtext("Event"))
                for i in change.element.iter("Item")] == [(channel(3), "OFF")]
        _, alarm = expect(platform, "MESSAGE", "Alarm")
        assert alarm.device_id == channel(3)
        index.close()
        assert daemon.stop() == 0
    finally:
        daemon.stop()
        platform.close()


def test_time_source_platform_steps_the_clock_within_bounds(tmp_path: Path) -> None:
    """The node decides to step by a few seconds and refuses hours. It runs without
    CAP_SYS_TIME (setpriv), so the step itself fails with a logged EPERM instead of moving
    this machine's clock: what is checked is the decision and its log lines."""
    platform = ScriptedPlatform("udp")
    config = write_config(
        tmp_path / "edge.toml", tmp_path / "data", [],
        extra=f"sip_port = {free_port()}\ntime_source = \"sip\"\n\n[[platforms]]\n"
              f"id = \"{SERVER}\"\nhost = \"127.0.0.1\"\nport = {platform.port}\n"
              f"password = \"{PASSWORD}\"")
    daemon = Daemon(config, prefix=("setpriv", "--bounding-set", "-sys_time", "--inh-caps",
                                    "-sys_time", "--")).start()
    log = tmp_path / "edge.log"
    try:
        for ahead, expect_line in ((5.0, "Operation not permitted"),
                                   (8 * 3600.0, "s is more than 600 s")):
            request = platform.request("REGISTER")
            while request.header("Authorization") is None and ahead == 5.0:
                platform.send(with_header(response_to(request, 401, "Unauthorized", "t1"),
                                          "WWW-Authenticate", CHALLENGE))
                request = platform.request("REGISTER")
            date = format_local_time(time.time() + ahead, TZ) + ".000"
            ok = with_header(response_to(request, 200, "OK", "t1"), "Date", date)
            platform.send(with_header(ok, "Expires", "3"))  # the refresh brings the next Date
            wait_for(lambda: expect_line in log.read_text(), 15, expect_line)
    finally:
        daemon.stop()
        platform.close()
    text = log.read_text()
    [step] = re.findall(r"cannot step the clock by ([0-9.]+) s", text)
    assert 3.0 <= float(step) <= 5.0  # the Date carries whole seconds; handling takes a moment
    [refused] = re.findall(r"clock step refused: \+(\d+) s", text)
    assert 8 * 3600 - 60 <= int(refused) <= 8 * 3600
    assert "clock stepped" not in text
