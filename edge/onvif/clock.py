"""统一时间 (one time) for the cameras: the picture's OSD time is what people read off a
screen as evidence, and cameras drift minutes a month. Each ONVIF camera is pointed at an
NTP server (the box itself on the appliance: chrony serves the camera LAN) and, when its
clock is off by more than ``[time].camera_max_offset``, set by the box at once
(``SetSystemDateAndTime``, Manual, the node's time zone) — before NTP mode is set again,
which a Manual set switches off. What could not be corrected is said in words.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

import onveef

from edge.onvif.device import OnvifError, call, clock_offset


@dataclass(frozen=True, slots=True)
class CameraClock:
    """One camera's clock as the box last saw it (for status, health, the dashboard)."""

    camera_id: str
    offset_s: float | None       # the camera's clock minus the box's, after any correction
    checked_ts: float
    set_ts: float | None = None  # when the box last set it
    ntp: str | None = None       # the NTP server it was pointed at
    error: str | None = None     # why it could not be read or corrected


def posix_tz(zone: str, at: float) -> str:
    """ONVIF's TimeZone is a POSIX TZ string: Asia/Shanghai is ``CST-8`` (the sign is
    inverted: hours to add to local time to get UTC)."""
    local = datetime.fromtimestamp(at, ZoneInfo(zone))
    offset = local.utcoffset()
    minutes = -round(offset.total_seconds() / 60) if offset is not None else 0
    name = local.tzname() or ""
    name = name if name.isascii() and name.isalpha() and 3 <= len(name) <= 6 else "UTC"
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    return f"{name}{sign}{hours}" + (f":{rest:02d}" if rest else "")


def ntp_server(setting: str, camera_host: str) -> str | None:
    """The NTP server to give a camera: ``setting`` ("auto": the box's own address on the
    route toward the camera; an address; "off": none)."""
    if setting == "off":
        return None
    if setting != "auto":
        return setting
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((camera_host, 123))  # no packet is sent: only the route is chosen
        except OSError:
            return None
        return str(probe.getsockname()[0])


def keep(cam: onveef.OnvifClient, address: str, camera_id: str, max_offset_s: float,
         zone: str, ntp: str | None, point: bool,
         now: Callable[[], float] = time.time) -> CameraClock:
    """Read the camera's offset; set its clock when it is off by more than
    ``max_offset_s``; with ``point`` (when first seen, then daily) point it at ``ntp``.
    Raises OnvifError only when its clock cannot be read at all."""
    offset = clock_offset(cam, address, now)
    tz = posix_tz(zone, now())
    refused: list[str] = []
    set_ts = None
    if abs(offset) > max_offset_s:
        try:
            call(address, "SetSystemDateAndTime", lambda: cam.set_system_date_time(
                date_time_type="Manual", timezone=tz,
                utc_datetime=datetime.fromtimestamp(now(), timezone.utc)))
            set_ts = now()
        except OnvifError as exc:
            refused.append(str(exc))
    pointed = None
    if point and ntp:
        try:
            call(address, "SetNTP", lambda: cam.set_ntp(from_dhcp=False, ipv4_servers=[ntp]))
            call(address, "SetSystemDateAndTime",
                 lambda: cam.set_system_date_time(date_time_type="NTP", timezone=tz))
            pointed = ntp
        except OnvifError as exc:  # no NTP on this camera: the box sets it itself
            refused.append(str(exc))
    if set_ts is not None or pointed:
        offset = clock_offset(cam, address, now)
    error = None
    if abs(offset) > max_offset_s:
        error = (f"摄像机时钟偏差 {offset:+.0f} 秒, 无法校正 the camera's clock is {offset:+.0f} s "
                 f"off and could not be corrected" + (f": {'; '.join(refused)}" if refused else ""))
    return CameraClock(camera_id, round(offset, 1), now(), set_ts, pointed, error)
