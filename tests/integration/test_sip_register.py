"""The SIP runner against a scripted upper platform on real UDP and TCP sockets.

The platform is a few lines of test code using edge's own pure SIP parser: it challenges,
checks the digest, grants, answers keepalives, asks Catalog and RecordInfo (each result
a MESSAGE of the node's own), and sees the unregister.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import pytest

from edge.config import parse as parse_config
from edge.gb28181.manscdp import parse_body
from edge.gb28181.model import Channel
from edge.gb28181.runner import SipRunner
from edge.digest import digest_response, parse_challenge
from edge.gb28181.sip.message import response_to, with_header
from edge.record.index import Index
from edge.sim.server import CameraServer, free_port
from tests.conftest import Daemon, write_config
from tests.integration.scripted_platform import (
    CHALLENGE, NODE, PASSWORD, SERVER, ScriptedPlatform, query, register,
)
CAMS = [Channel("34020000001320000001", "村口东", True, True),
        Channel("34020000001320000002", "村委会", False, False)]
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_keepalive_query_and_unregister(transport: str, tmp_path: Path) -> None:
    platform = ScriptedPlatform(transport)
    cfg = parse_config({
        "node": {"id": NODE, "data_dir": str(tmp_path), "sip_port": free_port()},
        "platforms": [{"id": SERVER, "host": "127.0.0.1", "port": platform.port,
                       "transport": transport, "password": PASSWORD, "keepalive_interval": 5}],
    })
    index = Index(tmp_path)
    seg = index.add_segment(CAMS[0].id, T0, tmp_path / "recordings" / "x.mp4", video_codec="h264",
                            audio_codec=None, width=640, height=360)
    index.update_segment(seg, T0 + 600, 1000, True)
    index.close()
    stop = threading.Event()
    runner = SipRunner(cfg, stop, lambda: CAMS)
    runner.start()
    try:
        first = platform.request("REGISTER")
        assert first.header("Authorization") is None
        platform.send(with_header(response_to(first, 401, "Unauthorized", "t1"),
                                  "WWW-Authenticate", CHALLENGE))
        second = platform.request("REGISTER")
        auth = second.header("Authorization") or ""
        expected = digest_response(parse_challenge(CHALLENGE), NODE, PASSWORD, "REGISTER", second.uri)
        assert f'response="{expected}"' in auth, "the platform must be able to verify the digest"
        assert second.header("Call-ID") == first.header("Call-ID")
        ok = with_header(response_to(second, 200, "OK", "t1"), "Expires", "3600")
        platform.send(with_header(ok, "Date", "2026-11-22T12:00:00.000"))
        keepalive = platform.request("MESSAGE")
        body = parse_body(keepalive.body)
        assert (body.cmd_type, body.device_id) == ("Keepalive", NODE)
        platform.send(response_to(keepalive, 200, "OK", "t2"))
        # queries: 200 OK at once, then the result in MESSAGEs of the node's own
        catalog = platform.ask(query(transport, platform.port, "Catalog", NODE, 17))
        assert catalog.fields["SumNum"] == "2"
        assert [i.findtext("Status") for i in catalog.element.iter("Item")] == ["ON", "OFF"]
        records = platform.ask(query(transport, platform.port, "RecordInfo", CAMS[0].id, 18, [
            ("StartTime", "2026-11-22T07:00:00"), ("EndTime", "2026-11-22T09:00:00")]))
        assert records.device_id == CAMS[0].id and records.fields["SumNum"] == "1"
        assert records.element.find("RecordList/Item/StartTime").text == "2026-11-22T08:00:00"
        state = runner.status()[0]
        assert state["registered"] and state["last_keepalive_ok_ts"] is not None
        assert state["clock_offset_s"] is not None
    finally:
        stop.set()
    bye = platform.request("REGISTER")
    assert bye.header("Expires") == "0"
    platform.send(response_to(bye, 200, "OK", "t1"))
    runner.join(10)
    assert not runner.is_alive()
    assert runner.status()[0]["state"] == "stopped"
    platform.close()


def test_sip_port_in_use_is_one_clear_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("0.0.0.0", 0))
    cfg = parse_config({
        "node": {"id": NODE, "data_dir": str(tmp_path), "sip_port": busy.getsockname()[1]},
        "platforms": [{"id": SERVER, "host": "127.0.0.1", "password": PASSWORD}],
    })
    Index(tmp_path).close()
    runner = SipRunner(cfg, threading.Event(), lambda: CAMS)
    runner.start()
    runner.join(5)
    busy.close()
    assert not runner.is_alive()
    [line] = [r.getMessage() for r in caplog.records if "SIP port" in r.getMessage()]
    assert "GB/T 28181 is off" in line


def test_daemon_registers_and_reports_live_camera_state(
    tmp_path: Path, cameras: Callable[..., CameraServer],
) -> None:
    cam = cameras({"/a": "h264"})
    platform = ScriptedPlatform("udp")
    config = write_config(
        tmp_path / "edge.toml", tmp_path / "data", [(CAMS[0].id, cam.url("/a"))],
        extra=f"sip_port = {free_port()}\n\n[[platforms]]\nid = \"{SERVER}\"\nhost = \"127.0.0.1\"\n"
              f"port = {platform.port}\npassword = \"{PASSWORD}\"")
    daemon = Daemon(config).start()
    try:
        register(platform)
        deadline = time.monotonic() + 30
        sn = 30
        while True:  # the camera's live state reaches the SIP thread via the supervisor
            sn += 1  # a new request each time: an identical one is a retransmit
            status = platform.ask(query("udp", platform.port, "DeviceStatus", NODE, sn))
            if status.fields["Record"] == "ON" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert status.fields["Record"] == "ON"
        catalog = platform.ask(query("udp", platform.port, "Catalog", NODE, 100))
        assert [(i.findtext("DeviceID"), i.findtext("Status"))
                for i in catalog.element.iter("Item")] == [(CAMS[0].id, "ON")]
        assert daemon.stop() == 0
        bye = platform.request("REGISTER")
        while bye.header("Expires") != "0":  # skip a late UDP retransmit of the refresh
            bye = platform.request("REGISTER")
    finally:
        daemon.stop()
        platform.close()
