"""The settings page's "搜索摄像机 / find cameras" dialog: the same scan as ``edge
discover`` (edge/onvif/scan.py), each picture a device gives with a thumbnail from its
snapshot URI and a proposed channel ID, and "add" writing ``[[cameras]]`` entries through
the settings page's checker and TOML writer (audited). The credentials typed for the scan
stay in this process's memory, with what it found, for ten minutes: a thumbnail or an
add names a found device by number, never a URL, so nothing here fetches an address the
browser chose."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import tomlkit
from flask import Blueprint, Response, jsonify, request
from tomlkit.items import AoT

from edge.onvif import scan
from edge.onvif.device import DeviceFacts
from edge.web.app import context, current_user, require
from edge.web.views.settings import load_doc, save

bp = Blueprint("discover", __name__)
SCAN_TIMEOUT_S = 3.0
KEEP_S = 600.0
SNAPSHOT_TIMEOUT_S = 5.0
MAX_SNAPSHOT = 2 << 20
MAX_ADD = 64


@dataclass
class _Scan:
    at: float
    user: str
    password: str
    devices: list[DeviceFacts]


_SCANS: dict[int, _Scan] = {}  # by web user: the last scan
_LOCK = threading.Lock()


def _last() -> _Scan | None:
    with _LOCK:
        found = _SCANS.get(current_user().id)
    return found if found and time.time() - found.at < KEEP_S else None


@bp.route("/api/discover", methods=["POST"])
def run() -> Response | tuple[Response, int]:
    require("settings")
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    user, password = str(body.get("user", ""))[:64], str(body.get("password", ""))[:128]
    try:
        host, port = scan.parse_address(str(body.get("address", ""))[:300])
    except scan.AddressError as exc:
        return jsonify({"ok": False, "error": str(exc)}), 400
    devices, refused = scan.scan(host, port, user, password, SCAN_TIMEOUT_S)
    with _LOCK:
        _SCANS[current_user().id] = _Scan(time.time(), user, password, devices)
    cfg = context().cfg
    configured = {c.url.rpartition("@")[2] for c in cfg.cameras}
    found = [(n, d, s) for n, d in enumerate(devices) for s in scan.sources(d)]
    ids = scan.propose_ids(cfg.node.id, {c.id for c in cfg.cameras}, len(found))
    pictures = [{
        "device": n, "source": s.token, "id": ids[i] if i < len(ids) else "",
        "name": f"{d.model or d.manufacturer or 'camera'} {s.token}"[:40],
        "main": f"{s.main.encoding} {s.main.width}×{s.main.height} {s.main.fps} fps",
        "sub": (f"{s.sub.encoding} {s.sub.width}×{s.sub.height}" if s.sub else ""),
        "snapshot": bool(s.main.snapshot or (s.sub and s.sub.snapshot)),
        "configured": s.main.rtsp.rpartition("@")[2] in configured,
    } for i, (n, d, s) in enumerate(found)]
    listed = [{"address": d.address, "maker": d.manufacturer, "model": d.model,
               "firmware": d.firmware, "serial": d.serial, "ptz": d.ptz,
               "clock_offset_s": d.clock_offset_s, "problems": d.problems[:5],
               "no_rtsp": [p.problem for p in d.profiles if not p.rtsp][:5]}
              for d in devices]
    return jsonify({"ok": True, "devices": listed, "pictures": pictures, "refused": refused})


@bp.route("/api/discover/<int:device>/<path:source>/snapshot.jpg")
def snapshot(device: int, source: str) -> Response | tuple[Response, int]:
    require("settings")
    last = _last()
    if last is None or not 0 <= device < len(last.devices):
        return jsonify({"ok": False, "error": "scan again"}), 404
    picked = next((s for s in scan.sources(last.devices[device]) if s.token == source), None)
    url = picked and (picked.sub and picked.sub.snapshot or picked.main.snapshot)
    if not url:
        return jsonify({"ok": False, "error": "no snapshot"}), 404
    try:
        with httpx.Client(timeout=SNAPSHOT_TIMEOUT_S, verify=False,
                          auth=httpx.DigestAuth(last.user, last.password)) as client:
            with client.stream("GET", url) as answer:
                if answer.status_code != 200:
                    return jsonify({"ok": False, "error": f"HTTP {answer.status_code}"}), 502
                data = b""
                for chunk in answer.iter_bytes():
                    data += chunk
                    if len(data) > MAX_SNAPSHOT:
                        return jsonify({"ok": False, "error": "snapshot too large"}), 502
    except httpx.HTTPError as exc:
        return jsonify({"ok": False, "error": type(exc).__name__}), 502
    if not data.startswith(b"\xff\xd8"):
        return jsonify({"ok": False, "error": "not a JPEG"}), 502
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.route("/api/discover/add", methods=["POST"])
def add() -> Response | tuple[Response, int]:
    """``{"items": [{"device": N, "source": TOKEN, "id": ID, "name": NAME}]}``."""
    require("settings")
    last = _last()
    body = request.get_json(silent=True)
    items = body.get("items") if isinstance(body, dict) else None
    if last is None:
        return jsonify({"ok": False, "error": "请重新搜索 scan again (10 minutes passed)"}), 409
    if not isinstance(items, list) or not 0 < len(items) <= MAX_ADD:
        return jsonify({"ok": False, "error": "items"}), 400
    doc = load_doc()
    cameras = doc.get("cameras")
    if not isinstance(cameras, AoT):
        cameras = tomlkit.aot()
        doc["cameras"] = cameras
    added = []
    for item in items:
        device, source = (item.get("device"), item.get("source")) if isinstance(item, dict) \
            else (None, None)
        if type(device) is not int or not 0 <= device < len(last.devices):
            return jsonify({"ok": False, "error": f"device {device!r}"}), 400
        facts = last.devices[device]
        picked = next((s for s in scan.sources(facts) if s.token == source), None)
        if picked is None:
            return jsonify({"ok": False, "error": f"source {source!r}"}), 400
        table = tomlkit.table()
        table["id"] = str(item.get("id", ""))[:20]
        table["name"] = str(item.get("name", ""))[:64] or facts.model
        table["url"] = scan.with_credentials(picked.main.rtsp, last.user, last.password)
        if picked.sub:
            table["sub_url"] = scan.with_credentials(picked.sub.rtsp, last.user, last.password)
        table["onvif"] = facts.address
        if facts.manufacturer:
            table["vendor"] = facts.manufacturer[:32]
        cameras.append(table)
        added.append(str(table["id"]))
    problems = save(doc, "cameras_added", "cameras_refused", cameras=added)
    if problems:
        return jsonify({"ok": False, "problems": problems}), 400
    return jsonify({"ok": True, "added": added})
