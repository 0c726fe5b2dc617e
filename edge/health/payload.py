"""The health message (JSON, ``schema: edge.health/1``, documented by health.schema.json).
Pure: the runner gathers the facts, this module shapes them.

Numbers are what the node measured; anything it could not measure is null (a box
without a temperature sensor or a modem reports them as absent, not as zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from edge.health.availability import Availability

SCHEMA_ID = "edge.health/1"
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class CameraFacts:
    """Configured facts and stored history of one camera, beside its live state."""

    id: str
    name: str
    key_area: bool
    legal_min_days: int
    oldest_footage_ts: float | None
    below_legal_minimum: bool  # footage was deleted before its legal minimum (open alarm)
    last_24h: Availability
    last_30d: Availability
    quality_faults: tuple[str, ...] = ()  # picture faults open now (quality diagnosis)
    place: tuple[float, float, float | None] | None = None  # longitude, latitude, direction
    # cameras with tripwires: today's crossings, {line: {direction: {label: n}}}
    crossings_today: dict[str, dict[str, dict[str, int]]] | None = None


def camera_entry(facts: CameraFacts, live: Mapping[str, Any], now: float) -> dict[str, Any]:
    days_kept = ((now - facts.oldest_footage_ts) / DAY_S
                 if facts.oldest_footage_ts is not None else 0.0)
    return {
        "id": facts.id, "name": facts.name, "key_area": facts.key_area,
        "online": bool(live.get("online")), "recording": bool(live.get("recording")),
        "fps": float(live.get("fps") or 0.0), "bitrate_bps": int(live.get("bitrate_bps") or 0),
        "last_frame_ts": live.get("last_packet_ts"),
        "reconnects_last_hour": int(live.get("reconnects_last_hour") or 0),
        "last_error": live.get("last_error"),
        "oldest_footage_ts": facts.oldest_footage_ts,
        # a young node cannot have kept 60 days yet; what matters is that nothing younger
        # than the legal minimum was deleted for space (the retention alarm)
        "days_kept": round(days_kept, 2), "legal_min_days": facts.legal_min_days,
        "below_legal_minimum": facts.below_legal_minimum,
        "online_rate_24h": _rate(facts.last_24h), "observed_24h_s": round(facts.last_24h.observed_s),
        "online_rate_30d": _rate(facts.last_30d), "observed_30d_s": round(facts.last_30d.observed_s),
        "working_rate_24h": _rate(facts.last_24h, working=True),
        "working_rate_30d": _rate(facts.last_30d, working=True),
        "quality_faults": sorted(facts.quality_faults),
        # 统一时空: the camera's clock (ONVIF cameras) and place (where configured)
        **({"clock_offset_s": live.get("clock_offset_s"), "clock_error": live.get("clock_error")}
           if "clock_offset_s" in live else {}),
        **({"longitude": facts.place[0], "latitude": facts.place[1],
            "direction": facts.place[2]} if facts.place else {}),
        **({"crossings_today": facts.crossings_today}
           if facts.crossings_today is not None else {}),
    }


def build(*, node: Mapping[str, Any], now: float, local_time: str, uptime_s: float,
          clock: Mapping[str, Any], system: Mapping[str, Any], disk: Mapping[str, Any],
          cameras: list[dict[str, Any]], platforms: list[dict[str, Any]],
          uplink: Mapping[str, Any], outbox: Mapping[str, Any],
          runners: list[dict[str, Any]]) -> dict[str, Any]:
    online = sum(1 for c in cameras if c["online"])
    key = [c for c in cameras if c["key_area"]]
    return {
        "schema": SCHEMA_ID,
        "node": dict(node),
        "ts": now, "local_time": local_time, "uptime_s": round(uptime_s),
        "clock": dict(clock),
        "system": dict(system),
        "disk": dict(disk),
        "summary": {
            "cameras": len(cameras), "online": online,
            "online_ratio": round(online / len(cameras), 4) if cameras else None,
            "key_area_cameras": len(key),
            "key_area_online": sum(1 for c in key if c["online"]),
            "recording": sum(1 for c in cameras if c["recording"]),
        },
        "cameras": cameras,
        "platforms": platforms,
        "uplink": dict(uplink),
        "outbox": dict(outbox),
        "runners": runners,
    }


def _rate(avail: Availability, working: bool = False) -> float | None:
    rate = avail.working_rate if working else avail.online_rate
    return None if rate is None else round(rate, 4)
