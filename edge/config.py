"""Configuration: one TOML file loaded into frozen dataclasses.

Every problem is collected (not just the first) and reported with its key path, so a
technician fixes the file in one pass. Unknown keys are errors: a misspelt key must
fail at start-up, not silently take a default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import tomllib
import types
import typing
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.digits import is_digits, non_ascii_digit_hint
from edge.errors import ConfigError
from edge.gbid import (
    CAMERA_TYPES, NODE_TYPES, PLATFORM_TYPES, SPEAKER_TYPES, check_gb_id, type_code,
)
from edge.geometry import segments_cross
from edge.log import redact
from edge.timeranges import check_range

ORDINARY_DAYS = 60  # legal minimum for ordinary channels
KEY_AREA_DAYS = 90  # legal minimum for key areas
EVENT_DAYS = 365  # event pictures and structured data
ALSA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}(:[A-Za-z0-9_=,.\-]{1,64})?")  # hw:1,0 ...


@dataclass(frozen=True, slots=True)
class NodeConfig:
    id: str
    name: str = "边缘节点"
    data_dir: str = "/var/lib/edge"
    timezone: str = "Asia/Shanghai"
    sip_port: int = 5060  # local SIP port (UDP and TCP) towards upper platforms
    gb_role: Literal["device", "platform"] = "device"  # NVR (118) or lower platform (200)
    time_source: Literal["system", "sip"] = "system"  # "sip": step the clock to a platform's
    reboot_command: str = "systemctl reboot"  # run after a clean stop on an allowed TeleBoot
    longitude: float | None = None  # the box's own place (WGS-84), in health and DeviceInfo
    latitude: float | None = None


@dataclass(frozen=True, slots=True)
class StorageConfig:
    segment_seconds: float = 60.0
    min_free_percent: float = 5.0
    min_free_gb: float = 2.0
    check_interval_s: float = 10.0
    fsync_interval_s: float = 1.0


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    ordinary_days: int = ORDINARY_DAYS
    key_area_days: int = KEY_AREA_DAYS
    event_days: int = EVENT_DAYS


DETECT_LABELS = ("person", "vehicle", "two_wheeler")


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    """A detection zone of a camera: a polygon in relative coordinates (0..1) and what
    counts inside it."""

    name: str
    polygon: tuple[tuple[float, ...], ...] = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    labels: tuple[str, ...] = DETECT_LABELS
    min_score: float = 0.0  # 0: detect.min_score
    min_area: float = 0.0005  # of the frame
    # loitering (徘徊, people) / parked (停留, vehicles): inside longer than this; 0: off
    dwell_seconds: int = 0
    schedule: tuple[str, ...] = ()  # armed when (edge/timeranges.py); none: always


TRIPWIRE_DIRECTIONS = ("both", "a_to_b", "b_to_a")


@dataclass(frozen=True, slots=True)
class TripwireConfig:
    """A line an object's foot crosses (绊线): two points in fractions of the picture. Side A
    is on the left of the line going from its first point to its second, as on the screen."""

    name: str
    line: tuple[tuple[float, ...], ...]
    direction: str = "both"  # one of TRIPWIRE_DIRECTIONS
    labels: tuple[str, ...] = DETECT_LABELS
    schedule: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CameraConfig:
    id: str
    name: str
    url: str  # may hold credentials: print it only through redact()
    sub_url: str | None = None
    transport: Literal["tcp", "udp"] = "tcp"
    key_area: bool = False
    retention_days: int | None = None
    record: bool = True
    detect: bool = False  # people and vehicles ([detect])
    zones: tuple[ZoneConfig, ...] = ()  # none: the whole frame
    tripwires: tuple[TripwireConfig, ...] = ()
    masks: tuple[tuple[tuple[float, ...], ...], ...] = ()  # polygons never looked at
    # ONVIF (PTZ, the camera's clock): "http://HOST[:PORT][/path]", a host alone means
    # port 80 and /onvif/device_service; user and password default to the RTSP URL's
    onvif: str = ""
    onvif_user: str = ""
    onvif_password: str = ""
    onvif_password_file: str = ""
    # where it is and what it is (GB/T 28181 catalog; 统一时空): WGS-84 degrees, the
    # direction it looks in degrees from north, and the Annex A Info codes (0: not said)
    longitude: float | None = None
    latitude: float | None = None
    direction: float | None = None
    ptz_type: int = 0  # 0: from ONVIF (PTZ: 1 dome, none: 3 fixed); 1-4 (2022: up to 7)
    position_type: int = 0
    room_type: int = 0  # 1 outdoor, 2 indoor
    use_type: int = 0  # 1 public security, 2 traffic, 3 key
    supply_light_type: int = 0
    direction_type: int = 0
    resolution: str = ""  # A.2.4 codes, "/"-separated, e.g. "6/4"
    # a dome left alone goes back to this preset after home_seconds (0: never)
    home_preset: int = 0
    home_seconds: int = 0
    vendor: str = ""  # its maker (from ONVIF when found by a scan): the catalog's Manufacturer

    def legal_min_days(self, retention: RetentionConfig) -> int:
        return retention.key_area_days if self.key_area else retention.ordinary_days

    def keep_days(self, retention: RetentionConfig) -> int:
        return self.retention_days or self.legal_min_days(retention)


@dataclass(frozen=True, slots=True)
class SpeakerConfig:
    """A loudspeaker the cascade (GB/T 28181 broadcast) can speak through: a sound card
    on the box into the amplifier of the village loudspeaker."""

    id: str  # GB/T 28181 ID, type 137 (语音输出设备): it is in the catalog
    name: str
    device: str = "default"  # the ALSA PCM: "plughw:1,0" is the first USB sound card
    volume: int = 80  # percent of the signal sent on; the amplifier has the rest
    enabled: bool = True
    camera: str = ""  # the camera it stands beside: a platform's talk (对讲) to it plays here
    # the camera's own audio output (ONVIF Profile T backchannel, over its RTSP URL) instead
    # of a sound card: ``camera`` names it, ``device`` is not used
    backchannel: bool = False


def speaker_beside(speakers: Iterable[SpeakerConfig], camera_id: str) -> SpeakerConfig | None:
    """Where a broadcast to a camera's own ID, or a talk from its live tile, plays: the
    camera's own audio output (backchannel) first, else the first loudspeaker beside it."""
    near = [s for s in speakers if s.enabled and s.camera == camera_id]
    return next((s for s in near if s.backchannel), near[0] if near else None)


ALERT_TYPES = ("webhook", "wecom", "dingtalk", "feishu", "sms", "webpush")
URL_ALERT_TYPES = ALERT_TYPES[:4]  # the ones that POST to a URL
ALERT_EVENTS = ("tripwire", "loitering", "intrusion", "person", "vehicle", "camera_offline",
                "picture_fault", "disk", "budget", "retention")


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """A receiver of alerts: a group robot (WeChat Work, DingTalk, Feishu), a webhook, text
    messages through the box's modem, or the browsers that asked for notifications."""

    name: str
    type: str  # one of ALERT_TYPES
    url: str = ""  # may hold the robot's key: printed only through redact(). For webpush
    # the sender's contact the push services ask for (mailto: or https:), optional
    numbers: tuple[str, ...] = ()  # sms: the phones ("+8613800138000" or "13800138000")
    users: tuple[str, ...] = ()  # webpush: whose devices (user names; default every user);
    # a device only gets the alerts of cameras its user may see
    secret: str = ""  # DingTalk/Feishu signing secret, the webhook's HMAC key
    secret_file: str = ""  # or a 0600 file holding it
    events: tuple[str, ...] = ALERT_EVENTS  # which kinds (default all)
    cameras: tuple[str, ...] = ()  # which cameras (default all)
    quiet: tuple[str, ...] = ()  # "22:00-06:00", "sun 00:00-24:00": nothing sent then
    # (still in the alert log); edge/timeranges.py
    max_per_10min: int = 5  # per rule; the rest are folded into "and N more"
    pictures: bool = True  # the object's picture where the receiver takes one
    ca_file: str = ""  # a private CA for an https:// receiver on the LAN
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """The loudspeakers' common settings."""

    # keep what was said in live broadcasts (the cascade's, the room's push-to-talk) as
    # evidence: a WAV per broadcast, kept retention.event_days, named in the audit log
    record: bool = False


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    """An upper GB/T 28181 platform (e.g. the township or county WVP)."""

    id: str
    host: str
    domain: str = ""  # default: the first 10 digits of id
    port: int = 5060
    transport: Literal["udp", "tcp"] = "udp"
    username: str = ""  # default: the node ID
    password: str = ""
    password_file: str = ""  # a 0600 file holding the password instead
    expires: int = 3600
    keepalive_interval: int = 60
    keepalive_timeout_count: int = 3
    charset: Literal["GB2312", "GBK", "GB18030", "UTF-8"] = "GB2312"
    enabled: bool = True
    allow_reboot: bool = False  # TeleBoot from this platform reboots the appliance
    time_source: bool = False  # with node.time_source = "sip": this platform's Date sets the clock
    catalog_by_message: bool = False  # without a Catalog subscription: changes as MESSAGEs

    @property
    def sip_domain(self) -> str:
        return self.domain or self.id[:10]


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """GB/T 28181 media sessions (live video pulled by upper platforms)."""

    rtp_port_range: tuple[int, ...] = (30000, 30499)  # [first, last] local RTP ports
    max_sessions: int = 16  # beyond it an INVITE gets 486 Busy Here
    announce_address: str = ""  # c= of our answers; default: our address towards the platform


MQTT_COMMANDS = ("ping", "health", "snapshot", "reload-config", "update", "broadcast")


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """Health reporting to an MQTT broker; MQTT is off when [mqtt] is absent."""

    host: str
    port: int = 0  # 0: 1883, or 8883 with TLS
    tls: bool = False
    ca_file: str = ""  # CA of the broker's certificate (default: the system's)
    cert_file: str = ""  # client certificate and key, when the broker asks for one
    key_file: str = ""
    username: str = ""
    password: str = ""
    password_file: str = ""  # a 0600 file holding the password instead
    client_id: str = ""  # default: edge-<node id>
    protocol: Literal["auto", "5", "3.1.1"] = "auto"  # auto: MQTT 5, else 3.1.1
    topic_prefix: str = "edge"
    health_interval: int = 60  # how often changes are looked for; a delta only if any
    health_full_interval: int = 3600  # the whole health message (and on connect, on request)
    compress: bool = True  # zlib-compressed JSON (docs/uplink.md); false: plain JSON
    keepalive: int = 240  # within 4G carriers' TCP NAT idle timeouts (docs/uplink.md)
    stall_timeout: int = 30  # a publish unacknowledged this long: the link stalled, reconnect
    outbox_max_messages: int = 100_000
    outbox_max_bytes: int = 64 * 1024 * 1024
    allowed_commands: tuple[str, ...] = ("ping", "health")

    @property
    def broker_port(self) -> int:
        return self.port or (8883 if self.tls else 1883)


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    """The node's link to the centre: byte accounting, the SIM's budget, NAT keep-open."""

    interface: str = ""  # counted from this interface's counters ("": the default route's)
    monthly_budget_mb: int = 0  # 0: unmetered (fibre); alarms at 80 % and 100 %
    billing_day: int = 1  # the day of the month the SIM's allowance starts again
    over_budget: Literal["restrict", "ignore"] = "restrict"  # restrict: live gets the sub
    # stream, snapshots on request are held back until the month rolls over
    nat_keepalive: int = 0  # s; > 0: a 4-byte ping to UDP platforms when nothing else went
    # out for this long, so the carrier NAT keeps the mapping (0: SIP keepalives do it)
    weak_signal_percent: int = 20  # modem signal below this: alarm (main stream will not fit)
    apn: str = ""  # the SIM's APN, written into the 4G connection at first boot ("": auto)


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    """``edge update BUNDLE``: where versions live and how the new one is judged."""

    public_key: str = "/etc/edge/update.pub"  # the vendor's ed25519 key (64 hex digits)
    root: str = "/opt/edge"  # venv -> slots/<version>, the wheelhouse in wheels/
    base_python: str = "/usr/bin/python3"  # each slot's venv is made from it
    overlay_root: str = "/"  # where a bundle's overlay/ files go
    restart_command: str = "systemctl restart edge"
    # s for the new version to record, register and answer: past the start-up grace its
    # runners get (180 s) on a slow box recovering, and a web UI that starts last
    check_timeout: int = 600
    max_bundle_mb: int = 300  # larger uploads (System page) and downloads (cmd/update) refused


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The monitoring room's web UI (its own process under ``edge run``)."""

    enabled: bool = True
    listen: str = "0.0.0.0"  # every interface of the box (firewalled to the LAN)
    port: int = 8080
    tls_cert: str = ""  # both set: HTTPS (see config/edge.example.toml for a self-signed pair)
    tls_key: str = ""
    idle_minutes: int = 30  # signed out after this long without a request
    session_hours: int = 12  # and this long after signing in, however busy
    language: Literal["zh", "en"] = "zh"  # until a user picks the other one
    allow_from: tuple[str, ...] = ()  # subnets beyond the LAN the firewall lets reach it


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """On-device detection of people and vehicles (cameras with detect = true), in its own
    process. Frames: the camera's sub stream when it has one (up to ``fps`` times a second
    while an object nears a tripwire — each twentieth of the picture it moves, every frame
    at the line —, else once a second), else the main
    stream's keyframes only (no extra camera connection)."""

    enabled: bool = True
    fps: float = 5.0
    min_score: float = 0.5
    labels: tuple[str, ...] = DETECT_LABELS
    motion_threshold: int = 25  # grey levels a pixel must change by to count as motion
    motion_min_area: float = 0.002  # of the frame
    lock_seconds: int = 0  # > 0: footage this long before and after an event is locked
    threads: int = 1  # the model's CPU threads
    # "int8": the quantised model, half the time per look, 98 % of the fp16 model's
    # detections (bench/RESULTS.md); "fp16": the one it was made from
    model: str = "int8"


@dataclass(frozen=True, slots=True)
class QualityConfig:
    """Video quality diagnosis of every camera (in the detector process): one frame every
    ``interval`` seconds; a fault is raised after ``onset`` bad looks in a row and cleared
    after ``clear`` good ones."""

    enabled: bool = True
    interval: float = 60.0
    onset: int = 3
    clear: int = 3


@dataclass(frozen=True, slots=True)
class TimeConfig:
    """统一时间 (one time): the box keeps its ONVIF cameras' clocks. It points each at an
    NTP server (``camera_ntp``: "auto", the box's own address toward the camera, which
    chrony serves on the appliance; an IPv4 address; or "off") and sets a camera's clock
    itself when it is more than ``camera_max_offset`` seconds off; offsets are read every
    ``camera_check`` seconds."""

    camera_max_offset: float = 2.0
    camera_check: float = 3600.0
    camera_ntp: str = "auto"


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    node: NodeConfig
    storage: StorageConfig = field(default_factory=StorageConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    cameras: tuple[CameraConfig, ...] = ()
    platforms: tuple[PlatformConfig, ...] = ()
    speakers: tuple[SpeakerConfig, ...] = ()
    alerts: tuple[AlertConfig, ...] = ()
    mqtt: MqttConfig | None = None
    media: MediaConfig = field(default_factory=MediaConfig)
    web: WebConfig = field(default_factory=WebConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    uplink: UplinkConfig = field(default_factory=UplinkConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    time: TimeConfig = field(default_factory=TimeConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)

    @property
    def data_dir(self) -> Path:
        return Path(self.node.data_dir)

    def camera(self, camera_id: str) -> CameraConfig | None:
        return next((c for c in self.cameras if c.id == camera_id), None)

    def time_platform(self) -> PlatformConfig | None:
        """The one platform whose SIP Date may set the clock (node.time_source = "sip")."""
        if self.node.time_source != "sip":
            return None
        enabled = [p for p in self.platforms if p.enabled]
        marked = [p for p in enabled if p.time_source]
        return marked[0] if len(marked) == 1 else (enabled[0] if len(enabled) == 1 else None)


def load(path: str | Path) -> EdgeConfig:
    """Read and validate ``path``. Raises ConfigError listing every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: 无法读取 cannot read: {exc.strerror}"]) from None
    return parse(parse_toml(data, path))


MAX_CONFIG_BYTES = 1024 * 1024  # a real file is a few KB; beyond this it is not a config


def parse_toml(data: bytes, path: str | Path) -> dict[str, Any]:
    """The TOML document in ``data`` (the file at ``path``). Raises ConfigError."""
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{path}: 文件过大 file of {len(data)} bytes exceeds "
                           f"{MAX_CONFIG_BYTES}"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError([f"{path}: 第 {line} 行不是 UTF-8 编码 line {line} is not UTF-8 "
                           f"(byte {exc.start}); 请以 UTF-8 保存 save the file as UTF-8"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: TOML 语法错误 syntax error: {exc}"]) from None
    except RecursionError:  # arrays nested thousands deep
        raise ConfigError([f"{path}: TOML 嵌套过深 nested too deeply"]) from None


def parse(raw: Mapping[str, Any]) -> EdgeConfig:
    problems: list[str] = []
    sections = {"node": NodeConfig, "storage": StorageConfig, "retention": RetentionConfig,
                "media": MediaConfig, "web": WebConfig, "detect": DetectConfig,
                "quality": QualityConfig, "uplink": UplinkConfig, "update": UpdateConfig,
                "time": TimeConfig, "voice": VoiceConfig}
    for key in sorted(set(raw) - set(sections) - {"cameras", "platforms", "speakers", "alerts", "mqtt"}):
        problems.append(f"{key}: 未知配置项 unknown key")
    built: dict[str, Any] = {}
    for name, cls in sections.items():
        data = raw.get(name, {} if name != "node" else None)
        if data is None:
            problems.append("node: 缺少 [node] 段 missing section (node.id is required)")
            continue
        built[name] = _build(cls, data, name, problems)
    cameras: list[CameraConfig] = _build_array(CameraConfig, raw, "cameras", problems)
    platforms: list[PlatformConfig] = _build_array(PlatformConfig, raw, "platforms", problems,
                                                   _check_platform)
    if len({p.id for p in platforms}) != len(platforms):
        problems.append("platforms: 上级平台编号重复 duplicate platform id")
    speakers: list[SpeakerConfig] = _build_array(SpeakerConfig, raw, "speakers", problems,
                                                 _check_speaker)
    alerts: list[AlertConfig] = _build_array(AlertConfig, raw, "alerts", problems, _check_alert)
    ids = [c.id for c in cameras] + [s.id for s in speakers]
    for n, spk in enumerate(speakers):
        if spk.camera and spk.camera not in ids[:len(cameras)]:
            problems.append(f"speakers[{n}].camera: 没有这个摄像机 no camera {spk.camera[:20]!r}")
        elif spk.backchannel and not spk.camera:
            problems.append(f"speakers[{n}].backchannel: 需要 camera (哪台摄像机的喇叭) needs "
                            "camera = the camera whose audio output it is")
    if len(set(ids)) != len(ids):
        problems.append("speakers: 编号与其他扬声器或摄像机重复 an id is used twice "
                        "(speakers and cameras share the catalog)")
    mqtt = None
    if "mqtt" in raw:
        mqtt = _build(MqttConfig, raw["mqtt"], "mqtt", problems)
        if mqtt is not None:
            _check_mqtt(mqtt, problems)

    if built.get("node") is not None:
        _check_node(built["node"], problems)
        _check_time_source(built["node"], platforms, problems)
    if built.get("storage") is not None:
        _check_storage(built["storage"], problems)
    if built.get("media") is not None:
        _check_media(built["media"], problems)
    if built.get("web") is not None:
        _check_web(built["web"], problems)
    if built.get("detect") is not None:
        _check_detect(built["detect"], problems)
    uplink = built.get("uplink")
    if uplink is not None and not (0 <= uplink.monthly_budget_mb <= 10_000_000
                                   and 1 <= uplink.billing_day <= 28
                                   and (uplink.nat_keepalive == 0 or 5 <= uplink.nat_keepalive <= 600)
                                   and 0 <= uplink.weak_signal_percent <= 100):
        problems.append("uplink: monthly_budget_mb >= 0, billing_day 1–28, nat_keepalive 0 or "
                        "5–600 s, weak_signal_percent 0–100")
    quality = built.get("quality")
    if quality is not None and not (1 <= quality.interval <= 3600 and 1 <= quality.onset <= 60
                                    and 1 <= quality.clear <= 60):
        problems.append("quality: interval 1–3600 s, onset 1–60, clear 1–60")
    update = built.get("update")
    if update is not None and not (10 <= update.check_timeout <= 3600
                                   and 1 <= update.max_bundle_mb <= 4096):
        problems.append("update: check_timeout 10–3600 s, max_bundle_mb 1–4096")
    clock = built.get("time")
    if clock is not None:
        _check_time(clock, problems)
    retention = built.get("retention") or RetentionConfig()
    _check_cameras(cameras, retention, problems)
    if problems:
        raise ConfigError(problems)
    return EdgeConfig(cameras=tuple(cameras), platforms=tuple(platforms),
                      speakers=tuple(speakers), alerts=tuple(alerts), mqtt=mqtt, **built)


def _build_array(cls: type, raw: Mapping[str, Any], key: str, problems: list[str],
                 check: Callable[[Any, str, list[str]], None] | None = None) -> list[Any]:
    """A ``[[key]]`` array of tables; entries with problems are reported and left out."""
    items = raw.get(key, [])
    if not isinstance(items, list):
        problems.append(f"{key}: 应为 [[{key}]] 表数组 must be an array of tables")
        return []
    out = []
    for i, item in enumerate(items):
        obj = _build(cls, item, f"{key}[{i}]", problems)
        if obj is not None:
            if check:
                check(obj, f"{key}[{i}]", problems)
            out.append(obj)
    return out


def _build(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    """Type-check ``data`` against the dataclass fields; None when anything is wrong."""
    if not isinstance(data, dict):
        problems.append(f"{where}: 应为表 must be a table")
        return None
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    before = len(problems)
    for key in sorted(set(data) - names):
        problems.append(f"{where}.{key}: 未知配置项 unknown key")
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in data:
            if required:
                problems.append(f"{where}.{f.name}: 缺少必填项 required key missing")
            continue
        reason = _type_problem(data[f.name], hints[f.name])
        if reason:
            problems.append(f"{where}.{f.name}: {reason}")
    if len(problems) > before:
        return None
    return cls(**{k: _frozen(v, hints[k]) for k, v in data.items()})


def _frozen(value: Any, hint: Any) -> Any:
    """TOML arrays arrive as lists, tables as dicts; frozen config holds tuples and
    dataclasses (already type-checked)."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, "", [])
    if isinstance(value, list):
        args = typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = typing.get_args(next(a for a in args if a is not type(None)))
        return tuple(_frozen(v, args[0] if args else Any) for v in value)
    return value


def _type_problem(value: Any, hint: Any) -> str | None:
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            return f"取值应为 must be one of {list(allowed)}, got {value!r}"
        return None
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _type_problem(value, options[0])
    if origin is tuple:  # tuple[X, ...]: a TOML array of X
        if not isinstance(value, list):
            return f"类型错误 must be an array, got {type(value).__name__} {value!r}"
        item = typing.get_args(hint)[0]
        return next((r for r in (_type_problem(v, item) for v in value) if r), None)
    if dataclasses.is_dataclass(hint):  # an array of tables, e.g. [[cameras.zones]]
        inner: list[str] = []
        _build(typing.cast(type, hint), value, "", inner)
        return "; ".join(p.lstrip(": .") for p in inner) or None
    # TOML ints are acceptable where a float is wanted; bools are never numbers.
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[hint]
    if not ok:
        return f"类型错误 must be {hint.__name__}, got {type(value).__name__} {value!r}"
    return None


def _check_node(node: NodeConfig, problems: list[str]) -> None:
    reason = check_gb_id(node.id, NODE_TYPES)
    if reason:
        problems.append(f"node.id: {reason}")
    elif node.gb_role == "platform" and type_code(node.id) != "200":
        problems.append("node.id: gb_role = \"platform\" 需要类型码 200 needs type code 200, "
                        f"got {type_code(node.id)}")
    elif node.gb_role == "device" and type_code(node.id) != "118":
        problems.append("node.id: gb_role = \"device\" 需要类型码 118 needs type code 118, "
                        f"got {type_code(node.id)} (or set gb_role = \"platform\")")
    try:
        ZoneInfo(node.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"node.timezone: 未知时区 unknown time zone {node.timezone!r}")
    if not node.data_dir:
        problems.append("node.data_dir: 不能为空 must not be empty")
    if not 0 < node.sip_port < 65536:
        problems.append(f"node.sip_port: 端口无效 invalid port {node.sip_port}")
    _check_position(node.longitude, node.latitude, "node", problems)


def _check_alert(alert: AlertConfig, where: str, problems: list[str]) -> None:
    if alert.type not in ALERT_TYPES:
        problems.append(f"{where}.type: 应为 must be one of {list(ALERT_TYPES)}")
    if alert.type in URL_ALERT_TYPES:
        _check_alert_url(alert, where, problems)
    elif alert.type == "webpush" and alert.url and not alert.url.startswith(("mailto:",
                                                                             "https://")):
        problems.append(f"{where}.url: 网页推送的联系方式应为 mailto: 或 https:// the contact "
                        "of a webpush sender must be mailto: or https://")
    if alert.type == "sms":
        if not alert.numbers:
            problems.append(f"{where}.numbers: 短信需要手机号 an sms receiver needs numbers")
        for number in alert.numbers:
            digits = number.removeprefix("+")
            if not (3 <= len(digits) <= 20 and digits.isascii() and digits.isdigit()):
                problems.append(f"{where}.numbers: 号码无效 not a phone number: {number!r}")
    _check_secret(alert.secret, alert.secret_file, f"{where}.secret", problems)
    unknown = sorted(set(alert.events) - set(ALERT_EVENTS))
    if unknown:
        problems.append(f"{where}.events: 未知 unknown {unknown}; known: {list(ALERT_EVENTS)}")
    for text in alert.quiet:
        reason = check_range(text)
        if reason:
            problems.append(f"{where}.quiet: {reason}")
    if not 1 <= alert.max_per_10min <= 100:
        problems.append(f"{where}.max_per_10min: 应在 1–100 之间 must be within 1..100")
    if alert.ca_file:
        _check_readable(alert.ca_file, f"{where}.ca_file", problems)


def _check_alert_url(alert: AlertConfig, where: str, problems: list[str]) -> None:
    parts = urllib.parse.urlsplit(alert.url)
    if parts.scheme != "https" and not (parts.scheme == "http" and alert.type == "webhook"
                                        and _is_private(parts.hostname or "")):
        problems.append(f"{where}.url: 应为 https:// (局域网内的 webhook 可用 http://) must be "
                        "https:// (http:// only for a webhook at a private address)")
    if not parts.hostname:
        problems.append(f"{where}.url: 没有主机 has no host")


def _is_private(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False


def _check_speaker(speaker: SpeakerConfig, where: str, problems: list[str]) -> None:
    reason = check_gb_id(speaker.id, SPEAKER_TYPES)
    if reason:
        problems.append(f"{where}.id: {reason}")
    if not ALSA_NAME.fullmatch(speaker.device):
        problems.append(f"{where}.device: 应为 ALSA 设备名 must be an ALSA PCM name such as "
                        f"\"plughw:1,0\" or \"default\", got {speaker.device[:40]!r}")
    if not 0 <= speaker.volume <= 100:
        problems.append(f"{where}.volume: 应在 0–100 之间 must be within 0..100")


def _check_time(clock: TimeConfig, problems: list[str]) -> None:
    if not 0.5 <= clock.camera_max_offset <= 3600:
        problems.append("time.camera_max_offset: 应在 0.5–3600 秒之间 must be 0.5..3600 s")
    if not 60 <= clock.camera_check <= 86_400:
        problems.append("time.camera_check: 应在 60–86400 秒之间 must be 60..86400 s")
    if clock.camera_ntp not in ("auto", "off"):
        try:
            ipaddress.IPv4Address(clock.camera_ntp)
        except ValueError:
            problems.append(f"time.camera_ntp: 应为 \"auto\"、\"off\" 或 IPv4 地址 must be "
                            f"\"auto\", \"off\" or an IPv4 address, got {clock.camera_ntp[:40]!r}")


def _check_time_source(node: NodeConfig, platforms: list[PlatformConfig],
                       problems: list[str]) -> None:
    marked = [p.id for p in platforms if p.time_source]
    if len(marked) > 1:
        problems.append("platforms: 只能有一个平台作为时间源 only one platform may have "
                        f"time_source = true, got {', '.join(marked)}")
    enabled = [p for p in platforms if p.enabled]
    if node.time_source == "sip" and not marked and len(enabled) != 1:
        problems.append("node.time_source: \"sip\" 需指定一个平台 time_source = true "
                        "names no platform: mark one [[platforms]] with time_source = true")


def _check_platform(plat: PlatformConfig, where: str, problems: list[str]) -> None:
    reason = check_gb_id(plat.id, PLATFORM_TYPES)
    if reason:
        problems.append(f"{where}.id: {reason}")
    if plat.domain and (len(plat.domain) != 10 or not is_digits(plat.domain)):
        problems.append(f"{where}.domain: 应为10位数字 must be 10 digits, got {plat.domain!r}"
                        f"{non_ascii_digit_hint(plat.domain)}")
    if not plat.host:
        problems.append(f"{where}.host: 不能为空 must not be empty")
    if not 0 < plat.port < 65536:
        problems.append(f"{where}.port: 端口无效 invalid port {plat.port}")
    _check_secret(plat.password, plat.password_file, where, problems)
    if plat.expires < 60 or plat.keepalive_interval < 5 or plat.keepalive_timeout_count < 1:
        problems.append(f"{where}: expires >= 60, keepalive_interval >= 5, "
                        "keepalive_timeout_count >= 1")


def _check_secret(password: str, password_file: str, where: str, problems: list[str]) -> None:
    if password and password_file:
        problems.append(f"{where}: password 与 password_file 只能二选一 set only one of "
                        "password and password_file")
    if password_file:
        _check_readable(password_file, f"{where}.password_file", problems)


def _check_readable(path: str, where: str, problems: list[str]) -> None:
    try:
        Path(path).read_bytes()
    except OSError as exc:
        problems.append(f"{where}: 无法读取 cannot read {path}: {exc.strerror}")


def read_secret(password: str, password_file: str) -> str:
    """The password, read from its secrets file when one is configured."""
    if password_file:
        return Path(password_file).read_text(encoding="utf-8").strip()
    return password


def platform_password(plat: PlatformConfig) -> str:
    return read_secret(plat.password, plat.password_file)


def _check_media(media: MediaConfig, problems: list[str]) -> None:
    ports = media.rtp_port_range
    if len(ports) != 2 or not all(isinstance(p, int) for p in ports) \
            or not 1024 <= ports[0] <= ports[1] < 65536:
        problems.append(f"media.rtp_port_range: 应为 [起, 止] 且在 1024–65535 之间 must be "
                        f"[first, last] within 1024..65535, got {list(ports)}")
    elif ports[1] - ports[0] + 1 < media.max_sessions:
        problems.append("media.rtp_port_range: 端口数少于 max_sessions fewer ports than "
                        "media.max_sessions")
    if media.max_sessions < 1:
        problems.append("media.max_sessions: 应 >= 1 must be >= 1")


def _check_web(web: WebConfig, problems: list[str]) -> None:
    if not 0 < web.port < 65536:
        problems.append(f"web.port: 端口无效 invalid port {web.port}")
    if bool(web.tls_cert) != bool(web.tls_key):
        problems.append("web: tls_cert 与 tls_key 须同时设置 set both tls_cert and tls_key")
    for key in ("tls_cert", "tls_key"):
        if getattr(web, key):
            _check_readable(getattr(web, key), f"web.{key}", problems)
    if not 1 <= web.idle_minutes <= 24 * 60:
        problems.append("web.idle_minutes: 应在 1–1440 之间 must be within 1..1440")
    if not 1 <= web.session_hours <= 7 * 24:
        problems.append("web.session_hours: 应在 1–168 之间 must be within 1..168")
    for subnet in web.allow_from:
        try:
            ipaddress.IPv4Network(subnet, strict=False)
        except ValueError:
            problems.append(f"web.allow_from: 不是 IPv4 网段 not an IPv4 subnet: {subnet!r} "
                            "(例 e.g. 10.20.0.0/16)")


def _check_detect(detect: DetectConfig, problems: list[str]) -> None:
    if detect.model not in ("int8", "fp16"):
        problems.append(f"detect.model: 应为 must be \"int8\" or \"fp16\", not {detect.model!r}")
    if not 0.1 <= detect.fps <= 25:
        problems.append("detect.fps: 应在 0.1–25 之间 must be within 0.1..25")
    if not 0.05 <= detect.min_score <= 0.99:
        problems.append("detect.min_score: 应在 0.05–0.99 之间 must be within 0.05..0.99")
    _check_labels(detect.labels, "detect.labels", problems)
    if not 1 <= detect.motion_threshold <= 255 or not 0 <= detect.motion_min_area < 1:
        problems.append("detect: motion_threshold 1–255, motion_min_area 0–1")
    if not 0 <= detect.lock_seconds <= 3600 or not 1 <= detect.threads <= 4:
        problems.append("detect: lock_seconds 0–3600, threads 1–4")


def _check_labels(labels: tuple[str, ...], where: str, problems: list[str]) -> None:
    unknown = sorted(set(labels) - set(DETECT_LABELS))
    if unknown:
        problems.append(f"{where}: 未知类别 unknown {unknown}; known: {list(DETECT_LABELS)}")


def _check_polygon(polygon: tuple[tuple[float, ...], ...], where: str,
                   problems: list[str]) -> None:
    if len(polygon) < 3 or any(len(p) != 2 or not all(0 <= v <= 1 for v in p)
                               for p in polygon):
        problems.append(f"{where}: 多边形应为至少 3 个 [x, y] 点, 取值 0–1 a polygon is at least "
                        "3 [x, y] points within 0..1 (fractions of the picture)")
        return
    edges = list(zip(polygon, polygon[1:] + polygon[:1]))
    for i, j in ((i, j) for i in range(len(edges)) for j in range(i + 2, len(edges))):
        if (i, j) != (0, len(edges) - 1) and segments_cross(*edges[i], *edges[j]):
            problems.append(f"{where}: 多边形自相交 the polygon crosses itself (edges {i + 1} "
                            f"and {j + 1}): draw its corners in order around it")
            return


def _check_tripwire(wire: TripwireConfig, where: str, problems: list[str]) -> None:
    line = wire.line
    if len(line) != 2 or any(len(p) != 2 or not all(0 <= v <= 1 for v in p) for p in line):
        problems.append(f"{where}.line: 应为两个 [x, y] 点, 取值 0–1 must be two [x, y] points "
                        "within 0..1 (fractions of the picture)")
    elif math.dist(line[0], line[1]) < 0.02:
        problems.append(f"{where}.line: 线太短 the line is (almost) zero length: its two "
                        "points must be at least 2 % of the picture apart")
    if wire.direction not in TRIPWIRE_DIRECTIONS:
        problems.append(f"{where}.direction: 应为 must be one of {list(TRIPWIRE_DIRECTIONS)}, "
                        f"got {wire.direction[:20]!r}")
    _check_labels(wire.labels, f"{where}.labels", problems)
    _check_schedule(wire.schedule, f"{where}.schedule", problems)


def _check_schedule(ranges: tuple[str, ...], where: str, problems: list[str]) -> None:
    for text in ranges:
        reason = check_range(text)
        if reason:
            problems.append(f"{where}: {reason}")


def _check_mqtt(mqtt: MqttConfig, problems: list[str]) -> None:
    if not mqtt.host:
        problems.append("mqtt.host: 不能为空 must not be empty")
    if not 0 <= mqtt.port < 65536:
        problems.append(f"mqtt.port: 端口无效 invalid port {mqtt.port}")
    _check_secret(mqtt.password, mqtt.password_file, "mqtt", problems)
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(mqtt, key)
        if path:
            _check_readable(path, f"mqtt.{key}", problems)
            if not mqtt.tls:
                problems.append(f"mqtt.{key}: 需要 tls = true only used with tls = true")
    if bool(mqtt.cert_file) != bool(mqtt.key_file):
        problems.append("mqtt: cert_file 与 key_file 须同时设置 set both cert_file and key_file")
    prefix = mqtt.topic_prefix
    if not prefix or any(c in prefix for c in "+#") or prefix.startswith("/") or prefix.endswith("/"):
        problems.append(f"mqtt.topic_prefix: 不能为空、不能含 + # 或首尾 / must be non-empty "
                        f"without + # or a leading/trailing /, got {prefix!r}")
    if (mqtt.health_interval < 5 or mqtt.keepalive < 5 or mqtt.stall_timeout < 5
            or mqtt.health_full_interval < mqtt.health_interval):
        problems.append("mqtt: health_interval >= 5, keepalive >= 5, stall_timeout >= 5, "
                        "health_full_interval >= health_interval")
    if mqtt.outbox_max_messages < 1 or mqtt.outbox_max_bytes < 1024:
        problems.append("mqtt: outbox_max_messages >= 1, outbox_max_bytes >= 1024")
    unknown = sorted(set(mqtt.allowed_commands) - set(MQTT_COMMANDS))
    if unknown:
        problems.append(f"mqtt.allowed_commands: 未知命令 unknown {unknown}; "
                        f"known: {list(MQTT_COMMANDS)}")


def _check_storage(storage: StorageConfig, problems: list[str]) -> None:
    if not 10 <= storage.segment_seconds <= 600:
        problems.append("storage.segment_seconds: 应在 10–600 之间 must be within 10..600")
    if not 0 <= storage.min_free_percent < 100:
        problems.append("storage.min_free_percent: 应在 0–100 之间 must be within 0..100")
    if storage.min_free_gb < 0:
        problems.append("storage.min_free_gb: 不能为负 must not be negative")
    if storage.check_interval_s <= 0 or storage.fsync_interval_s <= 0:
        problems.append("storage: 间隔必须为正 intervals must be > 0")


def _check_cameras(
    cameras: list[CameraConfig], retention: RetentionConfig, problems: list[str]
) -> None:
    seen: dict[str, int] = {}
    for i, cam in enumerate(cameras):
        where = f"cameras[{i}]"
        reason = check_gb_id(cam.id, CAMERA_TYPES)
        if reason:
            problems.append(f"{where}.id: {reason}")
        if cam.id in seen:
            problems.append(
                f"{where}.id: 摄像机编号重复 duplicate camera id {cam.id} (also cameras[{seen[cam.id]}])"
            )
        seen.setdefault(cam.id, i)
        for key in ("url", "sub_url"):
            url = getattr(cam, key)
            reason = None if url is None else check_rtsp_url(url)
            if reason:
                problems.append(f"{where}.{key}: {reason}")
        for z, zone in enumerate(cam.zones):
            _check_polygon(zone.polygon, f"{where}.zones[{z}].polygon", problems)
            _check_labels(zone.labels, f"{where}.zones[{z}].labels", problems)
            if not 0 <= zone.min_score <= 0.99:
                problems.append(f"{where}.zones[{z}].min_score: 应在 0–0.99 之间 "
                                "must be within 0..0.99")
            if not 0 <= zone.dwell_seconds <= 86400:
                problems.append(f"{where}.zones[{z}].dwell_seconds: 应在 0–86400 之间 "
                                "must be within 0..86400")
            _check_schedule(zone.schedule, f"{where}.zones[{z}].schedule", problems)
        for t, wire in enumerate(cam.tripwires):
            _check_tripwire(wire, f"{where}.tripwires[{t}]", problems)
        for kind, rules in (("zones", cam.zones), ("tripwires", cam.tripwires)):
            names = [r.name for r in rules]
            for name in sorted({n for n in names if names.count(n) > 1}):
                problems.append(f"{where}.{kind}: 名称重复 duplicate name {name!r}")
        for m, mask in enumerate(cam.masks):
            _check_polygon(mask, f"{where}.masks[{m}]", problems)
        if cam.onvif:
            reason = check_onvif_url(cam.onvif)
            if reason:
                problems.append(f"{where}.onvif: {reason}")
        _check_secret(cam.onvif_password, cam.onvif_password_file, f"{where}.onvif_password",
                      problems)
        _check_place(cam, where, problems)
        minimum = cam.legal_min_days(retention)
        if cam.retention_days is not None and cam.retention_days < minimum:
            problems.append(
                f"{where}.retention_days: {cam.retention_days} 天低于法定最低 {minimum} 天 "
                f"is below the legal minimum of {minimum} days"
            )


CATALOG_CODES = {"ptz_type": 7, "position_type": 11, "room_type": 2, "use_type": 3,
                 "supply_light_type": 9, "direction_type": 9}
MAX_PRESET = 255


def _check_position(longitude: float | None, latitude: float | None, where: str,
                    problems: list[str]) -> None:
    if (longitude is None) != (latitude is None):
        problems.append(f"{where}.longitude: 经纬度应同时填写 longitude and latitude go together")
    for key, value, limit in (("longitude", longitude, 180.0), ("latitude", latitude, 90.0)):
        if value is not None and not -limit <= value <= limit:
            problems.append(f"{where}.{key}: {value} 超出范围 out of range ±{limit:.0f}")


def _check_place(cam: CameraConfig, where: str, problems: list[str]) -> None:
    _check_position(cam.longitude, cam.latitude, where, problems)
    if cam.direction is not None and not 0.0 <= cam.direction < 360.0:
        problems.append(f"{where}.direction: {cam.direction} 应为 0–360 must be 0..360 degrees")
    for key, highest in CATALOG_CODES.items():
        if not 0 <= getattr(cam, key) <= highest:
            problems.append(f"{where}.{key}: 应为 0–{highest} must be 0..{highest}")
    codes = cam.resolution.split("/") if cam.resolution else []
    if any(not is_digits(c) or len(c) > 2 for c in codes):
        problems.append(f"{where}.resolution: 应为 \"/\" 分隔的数字代码 must be codes like \"6/4\"")
    if not 0 <= cam.home_preset <= MAX_PRESET or cam.home_seconds < 0:
        problems.append(f"{where}.home_preset: 应为 0–{MAX_PRESET}, home_seconds >= 0")
    if (cam.home_preset or cam.home_seconds) and not cam.onvif:
        problems.append(f"{where}.home_preset: 需要 onvif 地址 needs the camera's onvif address")


def onvif_endpoint(value: str) -> str:
    """The device service URL: a host alone means port 80 and the standard path."""
    if "://" not in value:
        value = "http://" + value
    parts = urllib.parse.urlsplit(value)
    path = parts.path if parts.path not in ("", "/") else "/onvif/device_service"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def check_onvif_url(value: str) -> str | None:
    """Why ``value`` is not an ONVIF device address, or None."""
    try:
        parts = urllib.parse.urlsplit(onvif_endpoint(value))
        port = parts.port
    except ValueError as exc:
        return f"地址无效 invalid address {value[:80]!r}: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"应为 http://主机[:端口] must be http://HOST[:PORT], got {value[:80]!r}"
    if parts.username or parts.password:
        return "用户名密码请填 onvif_user/onvif_password put credentials in onvif_user/onvif_password"
    if port is not None and not 0 < port < 65536:
        return f"端口无效 invalid port in {value[:80]!r}"
    return None


def onvif_credentials(cam: CameraConfig) -> tuple[str, str]:
    """The ONVIF user and password: set, else the RTSP URL's."""
    parts = urllib.parse.urlsplit(cam.url)
    user = cam.onvif_user or urllib.parse.unquote(parts.username or "")
    password = (read_secret(cam.onvif_password, cam.onvif_password_file)
                if cam.onvif_password or cam.onvif_password_file
                else urllib.parse.unquote(parts.password or ""))
    return user, password


def check_rtsp_url(url: str) -> str | None:
    """Why ``url`` is not a usable rtsp:// URL, or None. Never echoes a password."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"地址无效 invalid URL {redact(url)!r}: {exc}"
    if parts.scheme not in ("rtsp", "rtsps"):
        return f"应以 rtsp:// 开头 must start with rtsp://, got {redact(url)!r}"
    if not parts.hostname:
        return f"缺少主机地址 missing host in {redact(url)!r}"
    if port is not None and not 0 < port < 65536:
        return f"端口无效 invalid port in {redact(url)!r}"
    return None
