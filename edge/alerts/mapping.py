"""Which events are alerts, of which kind, saying what. Pure."""

from __future__ import annotations

from typing import Any

from edge.config import EdgeConfig
from edge.health.counts import WAYS

SOURCES = ("detection", "tripwire", "loitering", "parked", "camera_offline",
           "alarm_raised")  # index event kinds read
LABELS = {"person": "行人 person", "vehicle": "车辆 vehicle", "two_wheeler": "两轮车 two-wheeler"}


def classify(kind: str, channel: str, data: dict[str, Any], cfg: EdgeConfig
             ) -> tuple[str, str, str] | None:
    """(alert kind, what happened, rule) for an index event, or None for no alert."""
    if data.get("armed") is False:
        return None  # outside its rule's arming schedule: on the events page only
    label = LABELS.get(str(data.get("label", "")), str(data.get("label", "")))
    rule = str(data.get("rule", ""))
    if kind == "tripwire":
        way = WAYS.get(str(data.get("direction")), "")
        return "tripwire", f"{label} 越线 crossed {rule} {way}".rstrip(), rule
    if kind in ("loitering", "parked"):
        what = "停留 parked" if kind == "parked" else "徘徊 loitering"
        return "loitering", f"{label} {what} 在 in {rule} {data.get('seconds', '?')} s", rule
    if kind == "detection":
        zones = [str(z) for z in data.get("zones", []) or []] if isinstance(
            data.get("zones"), list) else []
        camera = cfg.camera(channel)
        text = f"发现{label}"
        if zones and camera is not None and camera.zones:
            return "intrusion", f"{text} 进入区域 entered {', '.join(zones)}", ", ".join(zones)
        if data.get("label") == "person":
            return "person", text, ""
        if data.get("label") in ("vehicle", "two_wheeler"):
            return "vehicle", text, ""
        return None
    if kind == "camera_offline":
        why = data.get("last_error")
        return "camera_offline", "摄像机离线 camera offline" + (f": {why}" if why else ""), ""
    if kind == "alarm_raised":
        alarm, message = str(data.get("alarm", "")), str(data.get("message", ""))
        if alarm.startswith("quality_"):
            return "picture_fault", message, alarm
        if alarm.startswith("disk_"):
            return "disk", message, alarm
        if alarm.startswith("uplink_") and "budget" in alarm:
            return "budget", message, alarm
        if alarm == "retention_below_minimum":
            return "retention", message, alarm
    return None
