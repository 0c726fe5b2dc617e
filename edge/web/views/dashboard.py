"""The dashboard: a tile per camera and the node's facts, red where a national target
is missed (a key-area camera offline or not in working order, footage kept below its
legal minimum). A camera turned away can have its new view accepted (admin, audited)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

from edge import bootnotes
from edge.health.counts import WAYS
from edge.health.system import disk_facts, ntp_synchronized, system_facts, uplink_facts
from edge.record.index import NODE
from edge.retention.manager import ALARM_BELOW_MINIMUM
from edge.retention.policy import kept_days
from edge.quality.files import accept_path
from edge.web.app import audit, back, context, db, require, require_camera, visible_cameras
from edge.web.views.events import today as local_today

bp = Blueprint("dashboard", __name__)
THUMBS = "thumbs"  # written by the thumbnail runner (edge/web/thumbs.py)
QUALITY = "quality_"  # the alarms of quality diagnosis


@dataclass(frozen=True)
class Tile:
    id: str
    name: str
    key_area: bool
    online: bool
    recording: bool
    fps: float
    mbps: float
    last_error: str | None
    days_kept: float
    legal_min_days: int
    below_minimum: bool
    alarms: list[str]
    thumb_ts: int
    faults: list[str]  # picture faults open (quality diagnosis)
    detections: dict[str, int]  # people, vehicles ... seen today
    crossed: dict[str, dict[str, int]]  # tripwire -> direction -> crossings today
    clock_offset: float | None = None  # ONVIF cameras: their clock minus the box's

    @property
    def missed(self) -> bool:
        """A national target missed: a key-area camera offline or not in working order,
        or footage cut short."""
        return (self.key_area and (not self.online or bool(self.faults))) or self.below_minimum


def tiles(status: dict[str, Any] | None) -> list[Tile]:
    cfg, index = context().cfg, db()
    live = {c["id"]: c for c in (status or {}).get("cameras", [])}
    open_alarms = index.alarms()
    now = time.time()
    today = local_today(cfg.node.timezone)[0]
    seen: dict[str, dict[str, int]] = {}
    for event in index.events(today, now, [c.id for c in visible_cameras()], ["detection"],
                              limit=10_000):
        label = str(event.data.get("label"))
        seen.setdefault(event.channel_id, {}).setdefault(label, 0)
        seen[event.channel_id][label] += 1
    crossed: dict[str, dict[str, dict[str, int]]] = {}
    for channel, wire, direction, _, _ in index.crossings(
            today, now, [c.id for c in visible_cameras() if c.tripwires]):
        ways = crossed.setdefault(channel, {}).setdefault(wire, {})
        ways[direction] = ways.get(direction, 0) + 1
    out = []
    for cam in visible_cameras():
        state = live.get(cam.id, {}) if status else {}
        mine = [a for a in open_alarms if a.channel_id == cam.id]
        thumb = cfg.data_dir / THUMBS / f"{cam.id}.jpg"
        out.append(Tile(
            cam.id, cam.name, cam.key_area, bool(state.get("online")),
            bool(state.get("recording")), float(state.get("fps") or 0),
            round(float(state.get("bitrate_bps") or 0) / 1e6, 2), state.get("last_error"),
            round(kept_days(index.oldest(cam.id), now), 1), cam.legal_min_days(cfg.retention),
            any(a.kind == ALARM_BELOW_MINIMUM for a in mine), [a.message for a in mine],
            int(thumb.stat().st_mtime) if thumb.exists() else 0,
            [a.kind.removeprefix(QUALITY) for a in mine if a.kind.startswith(QUALITY)],
            seen.get(cam.id, {}), crossed.get(cam.id, {}), state.get("clock_offset_s")))
    return out


def node_facts(status: dict[str, Any] | None) -> dict[str, Any]:
    cfg = context().cfg
    try:
        disk = disk_facts(cfg.data_dir, cfg.storage)
    except OSError:
        disk = None
    return {"status": status, "disk": disk, "system": system_facts([]),
            "clock_synced": ntp_synchronized(),
            "uplink": uplink_view((status or {}).get("uplink"), cfg.uplink.interface),
            "platforms": (status or {}).get("platforms", []),
            "node_alarms": [a.message for a in db().alarms() if a.channel_id == NODE],
            "mqtt": (status or {}).get("mqtt"), "mqtt_configured": cfg.mqtt is not None,
            "runners": (status or {}).get("runners", []), "storage": cfg.storage}


def uplink_view(counted: dict[str, Any] | None, interface: str) -> dict[str, Any]:
    """The interface and modem, and (from the uplink runner) the bytes in MB and budget."""
    if not counted:
        return uplink_facts(interface)

    def mb(part: dict[str, dict[str, int]], key: str | None = None) -> float:
        rows = [part[key]] if key else list(part.values())
        return round(sum(r["sent"] + r["received"] for r in rows) / 1e6, 1)

    today, month = counted["today"], counted["month"]
    return {**counted, "today_mb": {k: mb(today, k) for k in today} | {"all": mb(today)},
            "month_mb": mb(month),
            "projected_mb": round(counted["budget"]["projected_bytes"] / 1e6)}


@bp.route("/")
def index() -> str:
    status = context().status()
    template = "dashboard_body.html" if request.args.get("part") else "dashboard.html"
    return render_template(template, tiles=tiles(status), facts=node_facts(status),
                           boot_notes=bootnotes.notes(), ways=WAYS)


@bp.route("/quality/<channel>/accept-view", methods=["POST"])
def accept_view(channel: str) -> Response:
    """The camera was turned on purpose: its new view becomes the usual one."""
    require("settings")
    require_camera(channel)
    path = accept_path(context().cfg.data_dir, channel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    audit("quality_accept_view", channel=channel)
    return back(url_for("dashboard.index"))


@bp.route("/api/thumb/<channel>.jpg")
def thumb(channel: str) -> Response:
    require_camera(channel)
    path = context().cfg.data_dir / THUMBS / f"{channel}.jpg"
    if not path.exists():
        abort(404)
    response = send_file(path, mimetype="image/jpeg", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
