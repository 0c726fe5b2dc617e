"""Notices the node sends on its own: catalog changes and alarms (GB/T 28181 A.2.5). Pure."""

from __future__ import annotations

from edge.gb28181.answers import CATALOG_MAX_BYTES, CATALOG_PER_PACKET, format_local_time
from edge.gb28181.manscdp import render, render_group, render_list_packets
from edge.gb28181.model import Channel, Node

ALARM_PRIORITY_VIDEO_LOSS = "2"  # second level: a dark key-area camera needs a visit soon
ALARM_METHOD_DEVICE = "2"
ALARM_TYPE_VIDEO_LOSS = "1"  # for method 2 (device): 1 video loss
ALARM_METHOD_VIDEO = "5"  # video analysis; its types (GB/T 28181-2016 A.2.5):
ALARM_TYPE_MOVING_TARGET = "2"  # moving target detected (a person or vehicle anywhere)
ALARM_TYPE_TRIPWIRE = "5"  # a line crossed (绊线)
ALARM_TYPE_INTRUSION = "6"  # intrusion: in a zone the technician drew
ALARM_TYPE_LOITERING = "8"  # a person staying in a zone (徘徊)
# detection-process event kinds that are alarms (None: by whether the camera has zones);
# a vehicle parked has no alarm type of its own in the standard: it stays on the box
RULE_ALARM_TYPES: dict[str, str | None] = {
    "detection": None, "tripwire": ALARM_TYPE_TRIPWIRE, "loitering": ALARM_TYPE_LOITERING}
ALARM_TYPE_VIDEO_ABNORMAL = "11"  # video abnormal (quality diagnosis)
ALARM_PRIORITY_DETECTION = "3"
ALARM_PRIORITY_QUALITY = "2"  # as video loss: the camera needs a visit
ALARM_METHOD_FAULT = "6"  # device fault; its types: 1 disk fault, 2 fan fault
ALARM_TYPE_DISK_FAULT = "1"
ALARM_PRIORITY_DISK_FAILING, ALARM_PRIORITY_DISK_WARNING = "1", "3"


def catalog_changes(node: Node, sn: int, changed: list[Channel]) -> list[bytes]:
    """Catalog Notify bodies with Event ON/OFF for each channel whose state changed."""
    items = [[("DeviceID", c.id), ("Name", c.name), ("Event", "ON" if c.online else "OFF"),
              ("Status", "ON" if c.online else "OFF"), ("ParentID", node.id)] for c in changed]
    return render_list_packets("Notify", "Catalog", sn, node.id, "DeviceList", items,
                               CATALOG_PER_PACKET, charset=node.charset,
                               max_bytes=CATALOG_MAX_BYTES)


def video_loss_alarm(node: Node, sn: int, channel: Channel, now: float) -> bytes:
    return render("Notify", "Alarm", sn, channel.id, [
        ("AlarmPriority", ALARM_PRIORITY_VIDEO_LOSS), ("AlarmMethod", ALARM_METHOD_DEVICE),
        ("AlarmTime", format_local_time(now, node.timezone)),
        ("AlarmDescription", f"视频丢失 video loss: {channel.name}"),
    ], render_group("Info", [("AlarmType", ALARM_TYPE_VIDEO_LOSS)]), charset=node.charset)


def video_alarm(node: Node, sn: int, channel_id: str, alarm_type: str, priority: str,
                description: str, now: float, method: str = ALARM_METHOD_VIDEO) -> bytes:
    """An alarm of the video-analysis method (5: detection and quality diagnosis), or of
    another ``method`` with its type (6, device fault: the node's disk)."""
    return render("Notify", "Alarm", sn, channel_id, [
        ("AlarmPriority", priority), ("AlarmMethod", method),
        ("AlarmTime", format_local_time(now, node.timezone)),
        ("AlarmDescription", description),
    ], render_group("Info", [("AlarmType", alarm_type)]), charset=node.charset)
