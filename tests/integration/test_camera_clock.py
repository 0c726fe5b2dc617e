"""统一时间 against a real ONVIF camera (IPyCam, tests/integration/onvif_camera.py) whose
clock is five minutes wrong: the box sets it and points it at its own NTP; a camera that
refuses to be set raises the camera's clock alarm, is counted on the compliance sheet and
shows in the status listing."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path
from typing import Iterator

import pytest

from edge.config import load as load_config
from edge.onvif.clock import posix_tz
from edge.onvif.clocks import ALARM_CAMERA_CLOCK, CameraClocks, with_clocks
from edge.record.index import Index
from edge.web.app import create_app
from tests.conftest import wait_for
from tests.integration.test_ptz import (
    CAMERA_PASSWORD, DOME, USER, OnvifCamera, signed_in, web_node,
)

FIVE_MINUTES = "300"


def _config(tmp_path: Path, camera: OnvifCamera) -> Path:
    return web_node(tmp_path, f"""
[time]
camera_check = 60

[[cameras]]
id = "{DOME}"
name = "村口球机"
url = "rtsp://{USER}:{CAMERA_PASSWORD}@127.0.0.1:554/main"
onvif = "{camera.address}"
""", [("admin", "admin", None)])[1]


def _one_round(path: Path) -> CameraClocks:
    cfg = load_config(path)
    Index(cfg.data_dir).close()
    stop = threading.Event()
    runner = CameraClocks(cfg, stop)
    runner.start()
    try:
        wait_for(lambda: DOME in runner.clocks, 60, "the camera's clock checked")
    finally:
        stop.set()
        runner.join(30)
    return runner


@pytest.fixture
def wrong(tmp_path: Path) -> Iterator[OnvifCamera]:
    (tmp_path / "cam").mkdir()
    camera = OnvifCamera(tmp_path / "cam", USER, CAMERA_PASSWORD, "--clock-offset",
                         FIVE_MINUTES, "--settable-clock")
    yield camera
    camera.close()


@pytest.fixture
def stubborn(tmp_path: Path) -> Iterator[OnvifCamera]:
    (tmp_path / "cam").mkdir()
    camera = OnvifCamera(tmp_path / "cam", USER, CAMERA_PASSWORD, "--clock-offset", FIVE_MINUTES)
    yield camera
    camera.close()


def test_a_camera_five_minutes_wrong_is_set_and_pointed_at_the_box(
        tmp_path: Path, wrong: OnvifCamera) -> None:
    runner = _one_round(_config(tmp_path, wrong))
    clock = runner.clocks[DOME]
    assert clock.error is None and clock.offset_s is not None and abs(clock.offset_s) <= 2.0
    assert clock.set_ts is not None and clock.ntp == "127.0.0.1"  # the box's side of the route
    sets = [c for c in wrong.calls if c["action"] == "SetSystemDateAndTime"]
    # the time first (Manual, China's time zone), then NTP mode (a Manual set ends it)
    assert "Manual" in sets[0]["body"] and "CST-8" in sets[0]["body"]
    assert "NTP" in sets[-1]["body"] and len(sets) == 2
    assert "127.0.0.1" in wrong.wait("SetNTP")["body"]
    index = Index(tmp_path / "data", readonly=True)
    assert not [a for a in index.alarms() if a.kind == ALARM_CAMERA_CLOCK]
    index.close()


def test_a_clock_that_cannot_be_set_raises_an_alarm_and_counts_on_the_sheet(
        tmp_path: Path, stubborn: OnvifCamera) -> None:
    path = _config(tmp_path, stubborn)
    runner = _one_round(path)
    clock = runner.clocks[DOME]
    assert clock.offset_s is not None and 290 <= clock.offset_s <= 310
    assert clock.error is not None and "could not be corrected" in clock.error
    assert "SetSystemDateAndTime" in clock.error  # what the camera refused, for the technician
    index = Index(tmp_path / "data")
    alarms = [a for a in index.alarms() if a.kind == ALARM_CAMERA_CLOCK]
    assert [a.channel_id for a in alarms] == [DOME], alarms
    assert "could not be corrected" in alarms[0].message
    index.close()
    listed = with_clocks([{"id": DOME, "online": True}], runner.listing())
    assert listed[0]["clock_error"] == clock.error and listed[0]["clock_offset_s"] >= 290

    app = create_app(load_config(path), path)
    client = signed_in(app, "admin")
    assert "1 次未能校正" in client.get("/compliance").text
    rows = list(csv.reader(io.StringIO(client.get("/compliance.csv").text.lstrip("\ufeff"))))
    assert rows[0][-1] == "时钟未能校正 clock not corrected"
    assert [r[-1] for r in rows if r and r[0] == DOME] == ["1"]


def test_onvif_time_zones_are_posix_strings() -> None:
    winter, summer = 1_767_225_600.0, 1_782_864_000.0  # 2026-01-01, 2026-07-01
    assert posix_tz("Asia/Shanghai", winter) == posix_tz("Asia/Shanghai", summer) == "CST-8"
    assert posix_tz("Asia/Kolkata", winter) == "IST-5:30"
    assert posix_tz("UTC", winter) == "UTC0"
    assert posix_tz("America/New_York", winter) == "EST5"
    assert posix_tz("Asia/Urumqi", winter) == "UTC-6"  # its zone name is "+06": no letters
