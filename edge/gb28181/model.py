"""What the GB/T 28181 answers know about the node, and what they ask the runner to do.

Plain data shared by the pure answer modules (answers.py, control.py) and the runner:
the runner builds Node/Channel from the config and the recorder's live state, and
carries out the actions an Outcome lists (locks, guard state, config changes, reboot).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.ptz.ops import Op


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    online: bool
    recording: bool
    ptz: bool = False  # steerable: the camera has an ONVIF address (else PTZCmd is ERROR)
    longitude: float | None = None  # WGS-84, in the catalog (统一时空)
    latitude: float | None = None
    info: tuple[tuple[str, str], ...] = ()  # the catalog item's Info: PTZType, RoomType ...
    manufacturer: str = ""  # the camera's maker where known, else the node's is sent
    speaks: bool = False  # a speaker is beside it: a broadcast to its ID plays there


@dataclass(frozen=True, slots=True)
class Link:
    """The upper platform asking, as ConfigDownload BasicParam reports it."""

    server_id: str
    host: str
    port: int
    domain: str
    expires: int
    heartbeat_interval: int
    heartbeat_count: int
    allow_reboot: bool = False


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    name: str
    timezone: str
    charset: str = "GB2312"
    manufacturer: str = "edge"
    model: str = "edge-nvr"
    firmware: str = "0.1.0"
    link: Link | None = None
    role: str = "device"  # or "platform": a lower platform with a catalog tree
    fault: str | None = None  # the node's own fault (its data disk failing), for DeviceStatus


# -- actions for the runner ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManualRecord:
    """RecordCmd: start (Record) or stop (StopRecord) a locked manual recording range."""

    channel_id: str
    start: bool


@dataclass(frozen=True, slots=True)
class SetGuard:
    """GuardCmd: arm (SetGuard) or disarm (ResetGuard) alarm reporting."""

    channel_id: str
    armed: bool


@dataclass(frozen=True, slots=True)
class ResetAlarm:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Reboot:
    """TeleBoot, already checked against ``allow_reboot``."""


@dataclass(frozen=True, slots=True)
class RequestKeyframe:
    channel_id: str


@dataclass(frozen=True, slots=True)
class ApplyBasicParam:
    """DeviceConfig BasicParam: only the values the platform sent are set."""

    name: str | None = None
    expires: int | None = None
    heartbeat_interval: int | None = None
    heartbeat_count: int | None = None


@dataclass(frozen=True, slots=True)
class Steer:
    """PTZCmd, HomePosition: an operation for the camera behind the channel."""

    channel_id: str
    op: Op


@dataclass(frozen=True, slots=True)
class QueryPresets:
    """PresetQuery for a PTZ channel: the camera is asked, the answer goes out later."""

    channel_id: str
    sn: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Notify Broadcast to one of our speakers: the runner answers OK or ERROR (busy) and
    INVITEs the platform for the audio."""

    source_id: str
    target_id: str
    sn: int


Action = (ManualRecord | SetGuard | ResetAlarm | Reboot | RequestKeyframe | ApplyBasicParam
          | Steer | QueryPresets | Broadcast)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Response MESSAGE bodies (one per packet), actions, and a line for the log."""

    bodies: list[bytes] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    note: str = ""
