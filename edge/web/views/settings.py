"""Settings (admin): node, storage, cameras (with a probe button and Hikvision / Dahua URL
templates), upper platforms and MQTT, edited in the TOML file itself with tomlkit so its
comments stay. An edit is checked by the same checker as ``edge check-config``; a file
that would not validate is never written. A valid one is written atomically and applied
by the daemon's reload (same PID). Secrets are write-only: passwords are never sent back
to the browser, and a camera URL's password shows as ``***`` (kept unless retyped)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import tomlkit
from flask import Blueprint, Response, jsonify, render_template, request
from tomlkit.items import AoT, Table

from edge import config as config_mod
from edge.command import edge_argv
from edge.digits import is_digits, parse_decimal
from edge.errors import ConfigError, ProtocolError
from edge.log import redact
from edge.web.app import audit, context, require
from edge.web.plan import plan_of

bp = Blueprint("settings", __name__)
PROBE_TIMEOUT_S = 15.0
TEMPLATES = {  # what people type for the two brands most villages have
    "hikvision": ("rtsp://USER:PASS@IP:554/Streaming/Channels/101",
                  "rtsp://USER:PASS@IP:554/Streaming/Channels/102"),
    "dahua": ("rtsp://USER:PASS@IP:554/cam/realmonitor?channel=1&subtype=0",
              "rtsp://USER:PASS@IP:554/cam/realmonitor?channel=1&subtype=1"),
}
CAMERA_FIELDS = ("id", "name", "url", "sub_url", "key_area", "retention_days", "record",
                 "transport")
PLACE_FIELDS = ("longitude", "latitude", "direction", "ptz_type", "home_preset", "home_seconds")
PLATFORM_FIELDS = ("id", "host", "port", "transport", "username", "password", "enabled")


def load_doc() -> tomlkit.TOMLDocument:
    return tomlkit.parse(context().config_path.read_text(encoding="utf-8"))


DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


def merge_url(submitted: str, original: str | None, where: str = "url") -> str:
    """``rtsp://admin:***@host/x`` keeps the saved password — the one place a saved camera
    secret is put back into a URL, and only into one for the scheme, host and port it was
    saved with (issue 22, finding 3: a probe of ``***@attacker`` sent it to the attacker).
    Anything else with ``***`` is a ConfigError naming the field; other URLs are new."""
    if original is None or ":***@" not in submitted:
        return submitted
    new, old = urllib.parse.urlsplit(submitted), urllib.parse.urlsplit(original)
    try:
        same = (new.scheme, new.hostname, new.port or DEFAULT_PORTS.get(new.scheme)) == \
            (old.scheme, old.hostname, old.port or DEFAULT_PORTS.get(old.scheme))
    except ValueError:  # a port that is no number
        same = False
    if not same:
        raise ConfigError([f"{where}: 已保存的密码只用于原摄像机地址, 地址已改, 请重新输入密码 the saved "
                           "password goes only to the address it was saved for: type the "
                           "password for the new address"])
    return submitted.replace(":***@", f":{old.password or ''}@", 1)


def form_text(name: str) -> str:
    return request.form.get(name, "").strip()


def _set(table: Any, key: str, value: Any) -> None:
    """Set ``key``, or drop it when the form left it empty (the default applies)."""
    if value in ("", None):
        if key in table:
            del table[key]
    else:
        table[key] = value


def form_number(text: str) -> int | float | str:
    """A form number as TOML wants it; text that is no number stays text, so the checker
    names the field."""
    if is_digits(text):
        return int(text)
    try:
        return parse_decimal(text, "number")
    except ProtocolError:
        return text


def _default(section: type, key: str) -> Any:
    """The value a key takes when the file leaves it out."""
    field = next((f for f in dataclasses.fields(section) if f.name == key), None)
    return None if field is None or field.default is dataclasses.MISSING else field.default


SECTIONS = {"node": config_mod.NodeConfig, "storage": config_mod.StorageConfig,
            "cameras": config_mod.CameraConfig, "platforms": config_mod.PlatformConfig,
            "mqtt": config_mod.MqttConfig}


def apply_form(doc: tomlkit.TOMLDocument) -> list[str]:
    """Change ``doc`` as the form says; the changed keys, for the audit log. A key the
    file leaves out stays out while the form keeps its default."""
    changed: list[str] = []

    def put(table: Any, key: str, value: Any, where: str) -> None:
        if key not in table and value in ("", None, _default(SECTIONS[where.split("[")[0]], key)):
            return
        if table.get(key) != value:
            changed.append(f"{where}.{key}")
        _set(table, key, value)

    node = doc.setdefault("node", tomlkit.table())
    for key in ("id", "name", "timezone"):
        put(node, key, form_text(f"node-{key}"), "node")
    for key in ("longitude", "latitude"):
        put(node, key, form_number(form_text(f"node-{key}")) if form_text(f"node-{key}") else "", "node")
    storage = doc.setdefault("storage", tomlkit.table())
    for key in ("min_free_percent", "min_free_gb"):
        put(storage, key, form_number(form_text(f"storage-{key}")) if form_text(f"storage-{key}") else "",
            "storage")
    cameras = doc.get("cameras")
    if not isinstance(cameras, AoT):
        cameras = tomlkit.aot()
        doc["cameras"] = cameras
    kept = tomlkit.aot()
    for i in range(len(cameras) + 1):  # the file's cameras, and the form's blank new one
        prefix = f"cam-{i}-"
        table = cameras[i] if i < len(cameras) else tomlkit.table()
        if request.form.get(prefix + "remove") or (i >= len(cameras) and not form_text(prefix + "id")):
            if i < len(cameras):
                changed.append(f"cameras[{i}] removed")
            continue
        where = f"cameras[{i}]"
        put(table, "id", form_text(prefix + "id"), where)
        put(table, "name", form_text(prefix + "name"), where)
        for key in ("url", "sub_url"):
            value = merge_url(form_text(prefix + key), table.get(key), f"{where}.{key}")
            put(table, key, value, where)
        put(table, "key_area", bool(request.form.get(prefix + "key_area")), where)
        days = form_text(prefix + "retention_days")
        put(table, "retention_days", form_number(days) if days else "", where)
        put(table, "record", bool(request.form.get(prefix + "record")), where)
        # ONVIF (PTZ, clock) and place (统一时空); the ONVIF password is write-only
        put(table, "onvif", form_text(prefix + "onvif"), where)
        put(table, "onvif_user", form_text(prefix + "onvif_user"), where)
        if form_text(prefix + "onvif_password"):
            put(table, "onvif_password", form_text(prefix + "onvif_password"), where)
        for key in PLACE_FIELDS:
            text = form_text(prefix + key)
            put(table, key, form_number(text) if text else "", where)
        kept.append(table)
    doc["cameras"] = kept
    platforms = doc.get("platforms")
    if isinstance(platforms, AoT):
        for i, table in enumerate(platforms):
            prefix, where = f"plat-{i}-", f"platforms[{i}]"
            for key in ("host", "transport"):
                put(table, key, form_text(prefix + key), where)
            put(table, "port", form_number(form_text(prefix + "port")), where)
            put(table, "enabled", bool(request.form.get(prefix + "enabled")), where)
            if form_text(prefix + "password"):  # write-only: empty keeps it
                put(table, "password", form_text(prefix + "password"), where)
    mqtt = doc.get("mqtt")
    if isinstance(mqtt, Table) and form_text("mqtt-host"):
        put(mqtt, "host", form_text("mqtt-host"), "mqtt")
        put(mqtt, "port", form_number(form_text("mqtt-port") or "0"), "mqtt")
        put(mqtt, "username", form_text("mqtt-username"), "mqtt")
        if form_text("mqtt-password"):
            put(mqtt, "password", form_text("mqtt-password"), "mqtt")
    return changed


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _form_view(doc: tomlkit.TOMLDocument) -> dict[str, Any]:
    """What the form shows: no password ever, URLs with their password as ***."""
    plain = doc.unwrap()
    cameras = [{k: (redact(v) if k in ("url", "sub_url") and isinstance(v, str) else v)
                for k, v in cam.items() if k != "onvif_password"}
               for cam in plain.get("cameras", [])]
    platforms = [{k: v for k, v in p.items() if k in PLATFORM_FIELDS and k != "password"}
                 for p in plain.get("platforms", [])]
    mqtt = {k: v for k, v in plain.get("mqtt", {}).items() if k != "password"}
    return {"node": plain.get("node", {}), "storage": plain.get("storage", {}),
            "cameras": cameras, "platforms": platforms, "mqtt": mqtt or None}


def save(doc: tomlkit.TOMLDocument, done: str, refused: str, **detail: object) -> list[str]:
    """Check ``doc`` with the config checker; when valid, write it atomically, audit
    ``done`` and have the daemon reload (same PID). The problems otherwise (audited as
    ``refused``; nothing is written)."""
    ctx = context()
    try:
        config_mod.parse(config_mod.parse_toml(tomlkit.dumps(doc).encode(), ctx.config_path))
    except ConfigError as exc:
        audit(refused, problems=exc.problems, **detail)
        return exc.problems
    write_atomically(ctx.config_path, tomlkit.dumps(doc))
    audit(done, **detail)
    if ctx.supervisor_pid:
        os.kill(ctx.supervisor_pid, signal.SIGHUP)  # it reloads, in the same PID
    return []


@bp.route("/settings", methods=["GET", "POST"])
def index() -> str:
    require("settings")
    doc = load_doc()
    problems: list[str] = []
    saved = False
    if request.method == "POST":
        try:
            changed = apply_form(doc)
        except ConfigError as exc:
            problems = exc.problems  # nothing is written
            audit("settings_refused", changed=[], problems=problems)
        else:
            problems = save(doc, "settings_change", "settings_refused", changed=changed)
            saved = not problems
    form = _form_view(doc)
    return render_template("settings.html", form=form, problems=problems, saved=saved,
                           templates=TEMPLATES, plan=plan_of(form["node"], form["cameras"]))


@bp.route("/api/probe", methods=["POST"])
def probe() -> Response | tuple[Response, int]:
    """Run ``edge probe`` on a camera URL (a ``***`` password: the saved one)."""
    require("settings")
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    url = str(body.get("url", ""))[:1000]
    index = body.get("camera")
    cameras = load_doc().unwrap().get("cameras", [])
    if isinstance(index, int) and 0 <= index < len(cameras):
        try:
            url = merge_url(url, cameras[index].get(str(body.get("field", "url"))))
        except ConfigError as exc:
            return jsonify({"ok": False, "error": exc.problems[0]}), 400
    reason = config_mod.check_rtsp_url(url)
    if reason:
        return jsonify({"ok": False, "error": reason}), 400
    audit("probe", url=redact(url))
    try:
        res = subprocess.run(edge_argv("probe", url, "--json", "--seconds", "4"),
                             capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return jsonify({"ok": False, "error": "timeout"}), 504
    if res.returncode != 0:
        return jsonify({"ok": False, "error": redact(res.stderr.strip().splitlines()[-1]
                                                    if res.stderr.strip() else "failed")})
    return jsonify({"ok": True, **json.loads(res.stdout)})
