"""Answers to an upper platform's MANSCDP messages (GB/T 28181 A.2.4, A.2.6). Pure.

The caller passes what the node knows (channels with their live state, recorded
ranges, the wall clock); ``handle`` returns an Outcome: the response bodies, one per
packet, and actions for the runner (control commands live in control.py). Times on
the wire are local time without a zone (``node.timezone``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from edge.gb28181.broadcast import response_body
from edge.gb28181.control import device_config, device_control
from edge.gb28181.manscdp import (
    ManscdpError, ManscdpMessage, render, render_group, render_list_packets,
)
from edge.gb28181.model import Broadcast, Channel, Node, Outcome, QueryPresets
from edge.gb28181.place import DOWNLOAD_SPEEDS
from edge.gbid import SPEAKER_TYPES, type_code
from edge.record.coverage import Range, clip, merge_ranges

CATALOG_PER_PACKET = 4  # small packets survive UDP over 4G (WVP itself sends 1-10 per MESSAGE)
CATALOG_MAX_BYTES = 1300  # and a catalog MESSAGE body stays within one UDP datagram's MTU
RECORDS_PER_PACKET = 8
RecordSpans = Callable[[str, float, float], list[tuple[float, float]]]
CONFIG_TYPES = ("BasicParam", "VideoParamOpt")


def handle(message: ManscdpMessage, node: Node, channels: list[Channel], spans: RecordSpans,
           now: float) -> Outcome:
    """What to answer to ``message``. A Query or Control the node cannot answer gets
    ``Result ERROR`` (the platform stops waiting); a Notify or Response gets nothing."""
    kind = message.cmd_type
    if message.root == "Control":
        if kind == "DeviceControl":
            return device_control(message, node, channels)
        if kind == "DeviceConfig":
            return device_config(message, node)
    elif message.root == "Query":
        steerable = next((c for c in channels if c.id == message.device_id and c.ptz), None)
        if kind == "PresetQuery" and steerable is not None:
            return Outcome([], [QueryPresets(steerable.id, message.sn)],
                           f"asking camera {steerable.id} for its presets")
        try:
            bodies = _query(message, node, channels, spans, now)
        except ManscdpError as exc:
            return error(message, node, str(exc))
        if bodies:
            return Outcome(bodies, note=f"answering in {len(bodies)} packet(s)")
    elif message.root == "Notify" and kind == "Broadcast":
        return broadcast(message, node, channels)
    else:
        return Outcome(note=f"{message.root} {kind} needs no answer")
    return error(message, node, f"{message.root} {kind} is not supported")


def broadcast(message: ManscdpMessage, node: Node, channels: list[Channel]) -> Outcome:
    """A broadcast to one of our speakers, or to a camera with one beside it (WVP's
    broadcast button on the camera's channel), goes to the runner (it knows which are
    busy); anything else is answered ERROR at once, naming the target."""
    source, target = message.fields.get("SourceID", ""), message.fields.get("TargetID", "")
    if not source:
        reason = "Broadcast without SourceID"
    elif not any(c.id == target and (type_code(c.id) in SPEAKER_TYPES or c.speaks)
                 for c in channels):
        reason = (f"Broadcast to {target[:20]!r}: not one of our speakers (type 137) nor a "
                  "camera with one beside it")
    else:
        return Outcome([], [Broadcast(source, target, message.sn)],
                       f"broadcast from {source} to speaker {target}")
    return Outcome([response_body(message.sn, target[:20], False, node.charset)], note=reason)


def error(message: ManscdpMessage, node: Node, reason: str) -> Outcome:
    body = render("Response", message.cmd_type, message.sn, message.device_id,
                  [("Result", "ERROR")], charset=node.charset)
    return Outcome([body], note=reason)


def _query(query: ManscdpMessage, node: Node, channels: list[Channel], spans: RecordSpans,
           now: float) -> list[bytes]:
    kind, target = query.cmd_type, query.device_id
    channel = next((c for c in channels if c.id == target), None)
    if channel is None and target != node.id:
        raise ManscdpError(f"{kind} for unknown device {target!r}")
    if kind == "Catalog":
        return catalog(node, query.sn, channels)
    if kind == "DeviceInfo":
        return [device_info(node, query.sn, len(channels))]
    if kind == "DeviceStatus":
        return [device_status(node, query.sn, [channel] if channel else channels, now, target)]
    if kind == "ConfigDownload":
        return [config_download(node, query.sn, query.fields.get("ConfigType", ""))]
    if kind == "PresetQuery":
        if channel is not None and channel.ptz:
            return []  # the camera is asked (handle() returns the action)
        # fixed cameras have no presets; WVP reads SumNum and PresetList Num
        return preset_list(node, query.sn, target, [])
    if kind == "RecordInfo":
        if channel is None:
            raise ManscdpError(f"RecordInfo for {target!r}, which is not a channel")
        start = parse_local_time(query.fields.get("StartTime", ""), node.timezone)
        end = parse_local_time(query.fields.get("EndTime", ""), node.timezone)
        return record_info(node, query.sn, channel, spans(channel.id, start, end), start, end)
    return []


def catalog(node: Node, sn: int, channels: list[Channel]) -> list[bytes]:
    """As a device (118) the channels hang under the node; as a lower platform (200) under
    a business group (215) and a virtual organisation (216) derived from the node ID, which
    WVP turns into its group tree. SumNum counts every item, folders included."""
    civil = node.id[:6]
    folders: list[list[tuple[str, str]]] = []
    parent, group = node.id, ""
    if node.role == "platform":
        group, parent = group_ids(node.id)
        folders = [[("DeviceID", group), ("Name", node.name), ("Parental", "1"),
                    ("ParentID", node.id)],
                   [("DeviceID", parent), ("Name", node.name), ("Parental", "1"),
                    ("ParentID", group), ("BusinessGroupID", group)]]
    items = [[("DeviceID", c.id), ("Name", c.name),
              ("Manufacturer", c.manufacturer or node.manufacturer),
              ("Model", node.model), ("Owner", "Owner"), ("CivilCode", civil),
              ("Address", c.name), ("Parental", "0"), ("ParentID", parent),
              *([("BusinessGroupID", group)] if group else []),
              ("SafetyWay", "0"), ("RegisterWay", "1"), ("Secrecy", "0"),
              ("Status", "ON" if c.online else "OFF"), *_place(c)] for c in channels]
    return render_list_packets("Response", "Catalog", sn, node.id, "DeviceList", folders + items,
                               CATALOG_PER_PACKET, charset=node.charset,
                               max_bytes=CATALOG_MAX_BYTES)


def _place(channel: Channel) -> list[tuple[str, Any]]:
    """Longitude/Latitude where the camera's place is configured (WGS-84, six decimals:
    10 cm), and the Info block of what it is (PTZType ...), nothing invented."""
    out: list[tuple[str, Any]] = []
    if channel.longitude is not None and channel.latitude is not None:
        out += [("Longitude", f"{channel.longitude:.6f}"), ("Latitude", f"{channel.latitude:.6f}")]
    if channel.info:
        out.append(("Info", list(channel.info)))
    return out


def preset_list(node: Node, sn: int, channel_id: str, presets: list[tuple[int, str]]
                ) -> list[bytes]:
    """PresetQuery's answer: the camera's presets by GB/T 28181 number (gb28181.md 3.6)."""
    items: list[list[tuple[str, Any]]] = [[("PresetID", str(n)), ("PresetName", name[:32])]
                                          for n, name in presets[:255]]
    return render_list_packets("Response", "PresetQuery", sn, channel_id, "PresetList", items,
                               CATALOG_PER_PACKET, charset=node.charset)


def group_ids(node_id: str) -> tuple[str, str]:
    """The business group (215) and virtual organisation (216) IDs of a lower platform."""
    return node_id[:10] + "215" + node_id[13:], node_id[:10] + "216" + node_id[13:]


def device_info(node: Node, sn: int, channel_count: int) -> bytes:
    return render("Response", "DeviceInfo", sn, node.id, [
        ("DeviceName", node.name), ("Result", "OK"),
        ("DeviceType", "Platform" if node.role == "platform" else "NVR"),
        ("Manufacturer", node.manufacturer), ("Model", node.model), ("Firmware", node.firmware),
        ("Channel", str(channel_count))], charset=node.charset)


def device_status(node: Node, sn: int, channels: list[Channel], now: float,
                  target: str) -> bytes:
    """For the node, Record ON only while every channel really records (the platform
    shows it); for one channel (``target``), that channel's own state."""
    recording = bool(channels) and all(c.recording for c in channels)
    online = target == node.id or all(c.online for c in channels)
    # the node's own fault (its data disk) is the node's Status and Reason (A.2.6.5)
    fault = node.fault if target == node.id else None
    fields = [("Result", "OK"), ("Online", "ONLINE" if online else "OFFLINE"),
              ("Status", "OK" if online and not fault else "ERROR")]
    if fault:
        fields.append(("Reason", fault))
    return render("Response", "DeviceStatus", sn, target, [
        *fields, ("Encode", "ON" if online else "OFF"), ("Record", "ON" if recording else "OFF"),
        ("DeviceTime", format_local_time(now, node.timezone))], charset=node.charset)


def config_download(node: Node, sn: int, config_type: str) -> bytes:
    """BasicParam and VideoParamOpt; other types (SVAC, 2022 additions) are left out and
    a request for none we know is an error."""
    asked = [t.strip() for t in config_type.split("/") if t.strip()]
    if not any(t in CONFIG_TYPES for t in asked):
        raise ManscdpError(f"ConfigDownload {config_type!r}: only {'/'.join(CONFIG_TYPES)}")
    inner = ""
    if "BasicParam" in asked:
        link = node.link
        fields = [("Name", node.name), ("DeviceID", node.id)]
        if link is not None:
            fields += [("SIPServerID", link.server_id), ("SIPServerIP", link.host),
                       ("SIPServerPort", str(link.port)), ("DomainName", link.domain),
                       ("Expiration", str(link.expires)),
                       ("HeartBeatInterval", str(link.heartbeat_interval)),
                       ("HeartBeatCount", str(link.heartbeat_count))]
        inner += render_group("BasicParam", fields + [("PositionCapability", "0")])
    if "VideoParamOpt" in asked:
        # download at 1/2/4x; resolutions 6 (1080P), 5 (720P), 4 (D1): what cameras send
        inner += render_group("VideoParamOpt", [("DownloadSpeed", DOWNLOAD_SPEEDS),
                                                ("Resolution", "6/5/4")])
    return render("Response", "ConfigDownload", sn, node.id, [("Result", "OK")], inner,
                  charset=node.charset)


def record_info(node: Node, sn: int, channel: Channel, spans: list[tuple[float, float]],
                start: float, end: float) -> list[bytes]:
    """Merged contiguous ranges clipped to the query: WVP de-duplicates items by their
    times and waits for SumNum distinct ones, so one item per 60-s file would both flood
    it and risk equal times."""
    ranges: list[Range] = clip(merge_ranges(spans), start, end)
    tz = node.timezone
    items = [[("DeviceID", channel.id), ("Name", channel.name),
              ("FilePath", format_local_time(r.start, tz).replace("-", "").replace(":", "")),
              ("Address", node.name), ("StartTime", format_local_time(r.start, tz)),
              ("EndTime", format_local_time(r.end, tz)), ("Secrecy", "0"), ("Type", "time"),
              ("RecorderID", node.id)] for r in ranges]
    return render_list_packets("Response", "RecordInfo", sn, channel.id, "RecordList", items,
                               RECORDS_PER_PACKET, head=[("Name", channel.name)],
                               charset=node.charset)


def format_local_time(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).astimezone(ZoneInfo(tz)).strftime(
        "%Y-%m-%dT%H:%M:%S")


def parse_local_time(text: str, tz: str) -> float:
    """``2026-11-22T08:00:00`` (also with ``.fff``, a zone, or unpadded fields)."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.strptime(text.split(".")[0], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ManscdpError(f"time {text!r} is not YYYY-MM-DDTHH:MM:SS") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.timestamp()
