"""Answers to an upper platform's MANSCDP queries (GB/T 28181 A.2.4, A.2.6). Pure.

The caller passes what the node knows (channels with their live state, recorded
ranges, the wall clock); the functions return the response bodies, one per packet.
Times on the wire are local time without a zone (``node.timezone``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from edge.gb28181.manscdp import ManscdpError, ManscdpMessage, render, render_list_packets
from edge.record.coverage import Range, clip, merge_ranges

CATALOG_PER_PACKET = 4  # small packets survive UDP over 4G (WVP itself sends 1-10 per MESSAGE)
RECORDS_PER_PACKET = 8
RecordSpans = Callable[[str, float, float], list[tuple[float, float]]]


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    online: bool
    recording: bool


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    name: str
    timezone: str
    charset: str = "GB2312"
    manufacturer: str = "edge"
    model: str = "edge-nvr"
    firmware: str = "0.1.0"


def answer(query: ManscdpMessage, node: Node, channels: list[Channel], spans: RecordSpans,
           now: float) -> list[bytes]:
    """Response packets for ``query``; [] when the command is not one we answer."""
    kind = query.cmd_type
    if kind == "Catalog":
        return catalog(node, query.sn, channels)
    if kind == "DeviceInfo":
        return [device_info(node, query.sn, len(channels))]
    if kind == "DeviceStatus":
        return [device_status(node, query.sn, channels, now)]
    if kind == "RecordInfo":
        channel = next((c for c in channels if c.id == query.device_id), None)
        if channel is None:
            raise ManscdpError(f"RecordInfo for unknown channel {query.device_id!r}")
        start = parse_local_time(query.fields.get("StartTime", ""), node.timezone)
        end = parse_local_time(query.fields.get("EndTime", ""), node.timezone)
        return record_info(node, query.sn, channel, spans(channel.id, start, end), start, end)
    return []


def catalog(node: Node, sn: int, channels: list[Channel]) -> list[bytes]:
    civil = node.id[:6]
    items = [[("DeviceID", c.id), ("Name", c.name), ("Manufacturer", node.manufacturer),
              ("Model", node.model), ("Owner", "Owner"), ("CivilCode", civil),
              ("Address", c.name), ("Parental", "0"), ("ParentID", node.id),
              ("SafetyWay", "0"), ("RegisterWay", "1"), ("Secrecy", "0"),
              ("Status", "ON" if c.online else "OFF")] for c in channels]
    return render_list_packets("Response", "Catalog", sn, node.id, "DeviceList", items,
                               CATALOG_PER_PACKET, charset=node.charset)


def device_info(node: Node, sn: int, channel_count: int) -> bytes:
    return render("Response", "DeviceInfo", sn, node.id, [
        ("DeviceName", node.name), ("Result", "OK"), ("DeviceType", "NVR"),
        ("Manufacturer", node.manufacturer), ("Model", node.model), ("Firmware", node.firmware),
        ("Channel", str(channel_count))], charset=node.charset)


def device_status(node: Node, sn: int, channels: list[Channel], now: float) -> bytes:
    # Record ON only while every enabled channel really records: the platform shows it
    recording = bool(channels) and all(c.recording for c in channels)
    return render("Response", "DeviceStatus", sn, node.id, [
        ("Result", "OK"), ("Online", "ONLINE"), ("Status", "OK"), ("Encode", "ON"),
        ("Record", "ON" if recording else "OFF"),
        ("DeviceTime", format_local_time(now, node.timezone))], charset=node.charset)


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
