"""What a camera is and where it stands, as the catalog says it (统一时空: one space). Pure.

Only what the technician configured or the camera told us goes out; a field we do not
know is left out rather than guessed (platforms store what they are sent).
"""

from __future__ import annotations

from edge.config import CameraConfig, SpeakerConfig
from edge.gb28181.model import Channel

PTZ_DOME, PTZ_FIXED = 1, 3
STEERABLE_TYPES = (1, 2, 4, 5)  # dome, half-dome, remote bullet, remote half-dome (2022)
DOWNLOAD_SPEEDS = "1/2/4"  # ConfigDownload VideoParamOpt says the same
# config key -> the Info element (GB/T 28181-2016 A.2.4)
INFO_CODES = (("position_type", "PositionType"), ("room_type", "RoomType"),
              ("use_type", "UseType"), ("supply_light_type", "SupplyLightType"),
              ("direction_type", "DirectionType"))


def ptz_type(cam: CameraConfig, has_ptz: bool | None) -> int:
    """Configured, else what ONVIF said (a PTZ service: a dome; none: a fixed gun), else 0
    (unknown: not sent)."""
    if cam.ptz_type:
        return cam.ptz_type
    if not cam.onvif or has_ptz is None:
        return 0
    return PTZ_DOME if has_ptz else PTZ_FIXED


def channel(cam: CameraConfig, online: bool, recording: bool, has_ptz: bool | None,
            keep_days: int = 0, speaks: bool = False) -> Channel:
    kind = ptz_type(cam, has_ptz)
    info = [("PTZType", str(kind))] if kind else []
    info += [(tag, str(getattr(cam, key))) for key, tag in INFO_CODES if getattr(cam, key)]
    if cam.resolution:
        info.append(("Resolution", cam.resolution))
    # GB/T 28181-2022 items the node itself knows: its streams (0 main, 1 sub), the
    # download speeds it serves (as ConfigDownload says), no SVC, the days it keeps
    info += [("StreamNumberList", "0/1" if cam.sub_url else "0"),
             ("DownloadSpeed", DOWNLOAD_SPEEDS), ("SVCSpaceSupportMode", "0"),
             ("SVCTimeSupportMode", "0")]
    if keep_days:
        info.append(("RecordSaveDays", str(keep_days)))
    steerable = bool(cam.onvif) and (kind in STEERABLE_TYPES or (kind == 0 and has_ptz is None))
    return Channel(cam.id, cam.name, online, recording, ptz=steerable, longitude=cam.longitude,
                   latitude=cam.latitude, info=tuple(info), manufacturer=cam.vendor,
                   speaks=speaks)


def speaker(spk: SpeakerConfig) -> Channel:
    """A loudspeaker (type 137, 语音输出设备): in the catalog as a broadcast target."""
    return Channel(spk.id, spk.name, True, False, manufacturer="edge")
