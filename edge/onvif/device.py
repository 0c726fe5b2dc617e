"""One ONVIF device: connect with the box's credentials, read what it is and offers.

Every failure of the device or the network becomes an ``OnvifError`` whose message says
what to do (wrong credentials, SOAP refused, no RTSP in a profile), never a stack trace:
the technician reads it in a dialog or a terminal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

import onveef
from onveef import exceptions as onveef_errors

logger = logging.getLogger(__name__)

TIMEOUT_S = 5.0
MAX_RESPONSE_BYTES = 2 << 20  # a profile list of a 64-channel NVR fits; a hostile 1 GB does not
T = TypeVar("T")


class OnvifError(Exception):
    """What went wrong with a device, in words for the technician."""


@dataclass(frozen=True, slots=True)
class Profile:
    token: str
    name: str
    source: str  # the video source token: an NVR's channels are its sources
    encoding: str  # H264, H265, JPEG
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    rtsp: str  # "" where the device gave none (the reason is in ``problem``)
    snapshot: str = ""
    ptz: bool = False
    problem: str = ""


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What ``edge discover`` prints (``--json``: these field names are the schema)."""

    address: str
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    mac: str = ""
    clock_offset_s: float | None = None  # the camera's clock minus the box's
    profiles: list[Profile] = field(default_factory=list)
    ptz: bool = False
    presets: int = 0
    imaging: bool = False
    audio_output: bool = False
    problems: list[str] = field(default_factory=list)


def client(endpoint: str, user: str, password: str, timeout_s: float = TIMEOUT_S
           ) -> onveef.OnvifClient:
    """A client for ``endpoint`` (the device service URL). WS-Security digest; plain text
    only after the device refused digest; a clock-skew refusal is retried with the
    device's time in ``Created``."""
    return onveef.OnvifClient(endpoint, username=user, password=password, timeout_s=timeout_s,
                              max_response_bytes=MAX_RESPONSE_BYTES, retries=0,
                              password_text_fallback=True, verify_tls=False)


def call(address: str, what: str, fn: Callable[[], T]) -> T:
    """``fn()``, whose failure is an OnvifError naming the device and what was asked."""
    try:
        return fn()
    except onveef_errors.OnvifAuthError:
        raise OnvifError(f"{address}: 用户名或密码错误 wrong user name or password "
                         f"({what})") from None
    except onveef_errors.OnvifTimeoutError:
        raise OnvifError(f"{address}: 无应答 no answer within {TIMEOUT_S:.0f} s ({what})") from None
    except onveef_errors.OnvifTransportError as exc:
        raise OnvifError(f"{address}: 无法连接或应答异常 cannot reach it or its answer is "
                         f"unusable ({what}: {str(exc)[:160]})") from None
    except (onveef_errors.OnvifOperationNotSupportedError,
            onveef_errors.OnvifCapabilityMissingError):
        raise OnvifError(f"{address}: 设备不支持 the device does not offer {what}") from None
    except onveef_errors.OnvifError as exc:
        raise OnvifError(f"{address}: 设备拒绝 the device refused {what}: "
                         f"{str(exc)[:160]}") from None
    except Exception as exc:  # noqa: BLE001 — a device's answer must never crash the caller
        logger.warning("onvif=%s %s: unreadable answer", address, what, exc_info=True)
        raise OnvifError(f"{address}: 应答无法解析 unreadable answer to {what} "
                         f"({type(exc).__name__})") from None


def clock_offset(cam: onveef.OnvifClient, address: str, now: Callable[[], float] | None = None
                 ) -> float:
    """The camera's UTC clock minus ours, in seconds (GetSystemDateAndTime needs no login)."""
    info = call(address, "GetSystemDateAndTime", cam.get_system_date_time)
    utc = info.get("UTCDateTime") if isinstance(info, dict) else None
    try:
        assert isinstance(utc, dict)
        theirs = datetime(utc["year"], utc["month"], utc["day"], utc["hour"], utc["minute"],
                          utc["second"], tzinfo=timezone.utc).timestamp()
    except (AssertionError, KeyError, ValueError, TypeError, OverflowError):
        raise OnvifError(f"{address}: 设备时间无法解析 the camera's time is unreadable") from None
    return theirs - (now() if now else datetime.now(timezone.utc).timestamp())


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def profiles(cam: onveef.OnvifClient, address: str) -> list[Profile]:
    """Every media profile with its RTSP and snapshot URI; a profile without RTSP is kept
    with the reason, so the technician sees which one and why."""
    out = []
    for raw in call(address, "GetProfiles", cam.get_profiles)[:64]:
        token = str(raw.get("token", ""))
        encoder = raw.get("video_encoder") or {}
        if not token or not encoder:
            continue  # audio-only or metadata profiles
        problem = ""
        try:
            rtsp = str(call(address, f"GetStreamUri({token})",
                            lambda: cam.get_stream_uri(profile_token=token)))
            if not rtsp.lower().startswith(("rtsp://", "rtsps://")):
                problem, rtsp = f"配置 {token} 没有 RTSP 地址 profile {token} gives no RTSP URI", ""
        except OnvifError as exc:
            problem, rtsp = str(exc), ""
        try:
            snapshot = str(call(address, f"GetSnapshotUri({token})",
                                lambda: cam.get_snapshot_uri(profile_token=token)))
        except OnvifError:
            snapshot = ""
        out.append(Profile(token, str(raw.get("name", ""))[:64],
                           str((raw.get("video_source") or {}).get("source_token", ""))[:64],
                           str(encoder.get("encoding", ""))[:16], _int(encoder.get("width")),
                           _int(encoder.get("height")), _int(encoder.get("fps_limit")),
                           _int(encoder.get("bitrate_kbps")), rtsp[:512], snapshot[:512],
                           bool(raw.get("ptz")), problem))
    return out


def read(address: str, user: str, password: str, timeout_s: float = TIMEOUT_S) -> DeviceFacts:
    """Everything ``edge discover`` shows about one device."""
    problems: list[str] = []
    with client(address, user, password, timeout_s) as cam:
        try:
            offset: float | None = clock_offset(cam, address)
        except OnvifError as exc:
            offset = None
            problems.append(str(exc))
        info = call(address, "GetDeviceInformation", cam.get_device_information)
        found = profiles(cam, address)
        ptz = any(p.ptz for p in found)
        presets = 0
        if ptz:
            ptz_profile = next(p for p in found if p.ptz)
            try:
                presets = len(call(address, "GetPresets", lambda: cam.ptz_get_presets(
                    profile_token=ptz_profile.token)))
            except OnvifError as exc:
                problems.append(str(exc))
        services = call(address, "GetServices", cam.discover_services)
        mac = ""
        try:
            nics = call(address, "GetNetworkInterfaces", cam.get_network_interfaces)
            mac = next((str(n.get("hw_address", "")) for n in nics if n.get("hw_address")), "")
        except OnvifError:
            pass  # optional: many cameras refuse it to non-admin users
        try:
            audio = bool(call(address, "GetAudioOutputs", cam.get_audio_outputs))
        except OnvifError:
            audio = False
    maker, model, firmware, serial = (str(info.get(k, ""))[:64] for k in (
        "Manufacturer", "Model", "FirmwareVersion", "SerialNumber"))
    return DeviceFacts(address, maker, model, firmware, serial, mac=mac[:32],
        clock_offset_s=offset, profiles=found, ptz=ptz, presets=presets,
        imaging="imaging" in services, audio_output=audio, problems=problems)
