"""Health as change-driven deltas between full messages (the 4G data budget). Pure.

The full message (``edge.health/1``, retained on ``<base>/health``) goes out hourly, on
connect and on request. In between, every ``health_interval`` the node compares the
*digest* of its health (what the centre acts on: who is online, recording, registered,
faulty, short of disk or of data) with the digest it last sent, and only when it differs
publishes a delta on ``<base>/health/delta``::

    {"schema": "edge.health-delta/1", "ts": ..., "full_ts": <ts of the full it follows>,
     "seq": 1, 2, ..., "changes": <RFC 7396 merge patch of the digest>}

A consumer keeps ``digest(full)`` and applies each delta's ``changes`` with
``merge_patch`` in ``seq`` order; a gap in ``seq`` means: wait for the next full (or ask
for one: ``cmd/health``). Numbers that move all the time (CPU, fps, bitrate, bytes) are
not in the digest: they come with the hourly full message.
"""

from __future__ import annotations

from typing import Any, Mapping

DELTA_SCHEMA = "edge.health-delta/1"
CAMERA_KEYS = ("online", "recording", "last_error", "quality_faults", "below_legal_minimum")
PLATFORM_KEYS = ("registered", "state", "last_error")


def digest(health: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a health message whose changes the centre must hear of at once; lists
    keyed by id become objects, so a merge patch can name one camera."""
    uplink = health.get("uplink") or {}
    budget = uplink.get("budget") or {}
    modem = uplink.get("modem") or {}
    return {
        "summary": dict(health.get("summary") or {}),
        "cameras": {c["id"]: {k: c.get(k) for k in CAMERA_KEYS}
                    for c in health.get("cameras") or []},
        "platforms": {p["id"]: {k: p.get(k) for k in PLATFORM_KEYS}
                      for p in health.get("platforms") or []},
        "runners": {r["name"]: r.get("state") for r in health.get("runners") or []},
        "disk": {"watermark": (health.get("disk") or {}).get("watermark")},
        "uplink": {"level": budget.get("level"), "restricted": budget.get("restricted"),
                   "modem_state": modem.get("state"), "registration": modem.get("registration")},
        "outbox": {"dropped_total": (health.get("outbox") or {}).get("dropped_total")},
    }


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7396 merge patch that turns ``old`` into ``new`` (null: removed)."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            inner = diff(before, value)
            if inner:
                patch[key] = inner
        elif key not in old or before != value:
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: apply ``patch`` to ``target`` (returns a new value)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def delta_message(changes: dict[str, Any], now: float, full_ts: float, seq: int) -> dict[str, Any]:
    return {"schema": DELTA_SCHEMA, "ts": now, "full_ts": full_ts, "seq": seq,
            "changes": changes}
