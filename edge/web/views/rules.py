"""The rule editor (``settings`` right): a camera's zones, masks and tripwires drawn on its
latest picture with the mouse or a finger, then saved into the config file through the same
checker and TOML writer as the settings page (audited; a rule the checker refuses is never
written). Keys the editor does not show (a zone's labels, min_score …) stay as they were."""

from __future__ import annotations

import time
from typing import Any

import tomlkit
from flask import Blueprint, jsonify, render_template, request
from tomlkit.items import AoT
from werkzeug.wrappers import Response

from edge import config as config_mod
from edge.errors import ConfigError
from edge.web.app import context, db, require, require_camera
from edge.web.views.settings import load_doc, save

bp = Blueprint("rules", __name__)
MAX_RULES = 16  # of each kind per camera
MAX_POINTS = 32
TRY_S = 3600.0  # a rule is tried on the last hour's objects


def _camera_table(doc: tomlkit.TOMLDocument, channel: str) -> Any:
    cameras = doc.get("cameras")
    for table in cameras if isinstance(cameras, AoT) else []:
        if table.get("id") == channel:
            return table
    return None


def rules_of(table: Any) -> dict[str, Any]:
    plain = table.unwrap()
    return {"zones": plain.get("zones", []), "masks": plain.get("masks", []),
            "tripwires": plain.get("tripwires", [])}


@bp.route("/rules")
def index() -> str:
    require("settings")
    cams = context().cfg.cameras
    channel = request.args.get("camera") or (cams[0].id if cams else "")
    if cams:
        require_camera(channel)
    table = _camera_table(load_doc(), channel) if cams else None
    return render_template("rules.html", cameras=cams, channel=channel,
                           camera=context().cfg.camera(channel),
                           rules=rules_of(table) if table is not None else None)


def _points(value: Any, most: int) -> list[list[float]]:
    """[[x, y], …] as floats (the checker judges the range); anything else: a ValueError."""
    if not isinstance(value, list) or len(value) > most:
        raise ValueError("points")
    out = []
    for point in value:
        if not (isinstance(point, list) and len(point) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)):
            raise ValueError("point")
        out.append([round(float(point[0]), 4), round(float(point[1]), 4)])
    return out


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("strings")
    return [v.strip()[:40] for v in value if v.strip()][:MAX_RULES]


def apply(table: Any, body: dict[str, Any]) -> None:
    """The camera's rules as the editor sent them; a zone or line keeps the keys the editor
    does not show (matched by name)."""
    old = rules_of(table)
    zones, wires = tomlkit.aot(), tomlkit.aot()
    for item in body.get("zones", [])[:MAX_RULES]:
        before = next((z for z in old["zones"] if z.get("name") == item.get("name")), {})
        zone = tomlkit.table()
        zone.update({**before, "name": str(item.get("name", ""))[:40],
                     "polygon": _points(item.get("polygon"), MAX_POINTS)})
        _set(zone, "dwell_seconds", int(item.get("dwell_seconds") or 0), 0)
        _set(zone, "schedule", _strings(item.get("schedule", [])), [])
        zones.append(zone)
    for item in body.get("tripwires", [])[:MAX_RULES]:
        before = next((w for w in old["tripwires"] if w.get("name") == item.get("name")), {})
        wire = tomlkit.table()
        wire.update({**before, "name": str(item.get("name", ""))[:40],
                     "line": _points(item.get("line"), 2),
                     "direction": str(item.get("direction", "both"))[:10]})
        _set(wire, "schedule", _strings(item.get("schedule", [])), [])
        wires.append(wire)
    masks = [_points(m, MAX_POINTS) for m in body.get("masks", [])[:MAX_RULES]]
    for key, value in (("zones", zones), ("tripwires", wires), ("masks", masks)):
        if value:
            table[key] = value
        elif key in table:
            del table[key]


def _set(table: Any, key: str, value: Any, default: Any) -> None:
    if value == default:
        table.pop(key, None)
    else:
        table[key] = value


def _drawn(channel: str) -> tuple[tomlkit.TOMLDocument, dict[str, Any],
                                  tuple[Response, int] | None]:
    """The config file with the camera's rules as the editor sent them (not written), the
    request's body, and the 400 answer when they cannot be read."""
    require("settings")
    require_camera(channel)
    doc = load_doc()
    table = _camera_table(doc, channel)
    body = request.get_json(silent=True)
    if table is None or not isinstance(body, dict):
        return doc, {}, (jsonify({"ok": False, "problems": ["请求无效 not a rule set"]}), 400)
    try:
        apply(table, body)
    except (ValueError, TypeError, AttributeError):
        return doc, body, (jsonify({"ok": False, "problems": [
            "规则格式无效 the rules are not points, names and numbers"]}), 400)
    return doc, body, None


@bp.route("/rules/<channel>", methods=["POST"])
def store(channel: str) -> Response | tuple[Response, int]:
    doc, body, refused = _drawn(channel)
    if refused is not None:
        return refused
    problems = save(doc, "rules_change", "rules_refused", camera=channel,
                    zones=len(body.get("zones", [])), tripwires=len(body.get("tripwires", [])),
                    masks=len(body.get("masks", [])))
    return jsonify({"ok": not problems, "problems": problems}), 200 if not problems else 400


@bp.route("/rules/<channel>/try", methods=["POST"])
def try_rules(channel: str) -> Response | tuple[Response, int]:
    """The rules as drawn (not saved) against the objects detected on this camera in the
    last hour: how many would have crossed each line each way, stayed in each zone."""
    from edge.detect.rules import replay, rules_for  # numpy only when a rule is tried

    doc, _, refused = _drawn(channel)
    if refused is not None:
        return refused
    try:
        cam = config_mod.parse(config_mod.parse_toml(tomlkit.dumps(doc).encode(),
                                                     context().config_path)).camera(channel)
    except ConfigError as exc:
        return jsonify({"ok": False, "problems": exc.problems}), 400
    assert cam is not None
    now = time.time()
    objects = [o for e in db().events(now - TRY_S, now, [channel], ["detection"], limit=5000)
               if (o := _object(e.data)) is not None]
    zones = {z.name: tuple((p[0], p[1]) for p in z.polygon) for z in cam.zones}
    found = replay(rules_for(cam), zones, objects)
    counts: dict[str, int] = {}
    for e in found:
        key = f"{e.rule} {e.direction}" if e.kind == "tripwire" else f"{e.rule} {e.kind}"
        counts[key] = counts.get(key, 0) + 1
    return jsonify({"ok": True, "objects": len(objects), "found": counts})


def _object(data: dict[str, Any]) -> tuple[str, float, float, list[tuple[float, ...]]] | None:
    """(label, box width, box height, path) of a detection event; None when it has none."""
    try:
        x0, y0, x1, y1 = (float(v) for v in data["box"])
        path = [(float(t), float(x), float(y)) for t, x, y in data["path"]]
    except (KeyError, TypeError, ValueError):
        return None
    return str(data.get("label")), x1 - x0, y1 - y0, path
