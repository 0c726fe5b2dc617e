"""Alert receivers (admin, ``settings`` right): the robots and webhooks that tell the duty
officer's phone, edited in the config file (``[[alerts]]``) through the same checker and
TOML writer as the settings page; a test button per receiver sends a test alert at once and
shows the remote's answer (for text messages, the modem's; for Web Push, each device's
push service's). Secrets are write-only: the signing secret is never sent back,
and a URL that carries a robot's key (its query) shows it as ``***`` (kept unless
retyped)."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import tomlkit
from flask import Blueprint, render_template, request
from tomlkit.items import AoT

from edge import config as config_mod
from edge.web.app import audit, context, current_user, require
from edge.web.views.settings import form_number, form_text, load_doc, save

bp = Blueprint("alerts", __name__)
MASK = "***"


def masked(url: str) -> str:
    """The URL as the form shows it: its query (where robots keep their key) as ***."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query=MASK)) if parts.query else url


def unmasked(submitted: str, saved: str | None) -> str:
    """The form's URL, with the saved query back when it still shows ***."""
    if saved is not None and submitted == masked(saved):
        return saved
    return submitted


def apply_form(doc: tomlkit.TOMLDocument) -> list[str]:
    """Change ``doc``'s ``[[alerts]]`` as the form says; the receivers changed (audit)."""
    saved = doc.get("alerts")
    saved = saved if isinstance(saved, AoT) else tomlkit.aot()
    kept, changed = tomlkit.aot(), []
    for i in range(len(saved) + 1):  # the file's receivers, and the form's blank new one
        prefix = f"al-{i}-"
        table = saved[i] if i < len(saved) else tomlkit.table()
        name = form_text(prefix + "name")
        if request.form.get(prefix + "remove") or (i >= len(saved) and not name):
            if i < len(saved):
                changed.append(f"alerts[{i}] removed")
            continue
        before = table.unwrap()
        table["name"] = name
        table["type"] = form_text(prefix + "type")
        table["url"] = unmasked(form_text(prefix + "url"), before.get("url"))
        if form_text(prefix + "secret"):  # write-only: empty keeps it
            table["secret"] = form_text(prefix + "secret")
        events = [e for e in config_mod.ALERT_EVENTS if request.form.get(f"{prefix}ev-{e}")]
        _put_list(table, "events", events, len(events) == len(config_mod.ALERT_EVENTS))
        cameras = request.form.getlist(prefix + "cameras")
        _put_list(table, "cameras", cameras, not cameras)
        for key in ("quiet", "numbers", "users"):  # comma-separated lists, empty: none
            values = [v.strip() for v in form_text(prefix + key).split(",") if v.strip()]
            _put_list(table, key, values, not values)
        table["max_per_10min"] = form_number(form_text(prefix + "max_per_10min") or "5")
        table["pictures"] = bool(request.form.get(prefix + "pictures"))
        table["enabled"] = bool(request.form.get(prefix + "enabled"))
        if table.unwrap() != before:
            changed.append(f"alerts[{i}] {name}")
        kept.append(table)
    if kept:
        doc["alerts"] = kept
    elif "alerts" in doc:
        del doc["alerts"]
    return changed


def _put_list(table: Any, key: str, values: list[str], default: bool) -> None:
    """A list, or no key at all when it is the default (all kinds, all cameras, never
    quiet): a receiver then also gets kinds and cameras added later."""
    if default:
        table.pop(key, None)
    else:
        table[key] = values


def _view(doc: tomlkit.TOMLDocument) -> list[dict[str, Any]]:
    return [{**{k: v for k, v in a.items() if k != "secret"}, "url": masked(a.get("url", "")),
             "has_secret": bool(a.get("secret") or a.get("secret_file"))}
            for a in doc.unwrap().get("alerts", [])]


@bp.route("/alerts", methods=["GET", "POST"])
def index() -> str:
    require("settings")
    doc = load_doc()
    problems: list[str] = []
    saved = False
    tested: dict[str, Any] | None = None
    if request.method == "POST" and request.form.get("test"):
        tested = _test(request.form["test"])
    elif request.method == "POST":
        problems = save(doc, "alerts_change", "alerts_refused", changed=apply_form(doc))
        saved = not problems
    return render_template("alerts.html", receivers=_view(doc), problems=problems, saved=saved,
                           tested=tested, types=config_mod.ALERT_TYPES,
                           events=config_mod.ALERT_EVENTS, cameras=context().cfg.cameras)


def _test(name: str) -> dict[str, Any]:
    """Send a test alert to the receiver ``name`` as the running config has it (saved
    changes are in it once the daemon reloaded)."""
    from edge.alerts.runner import send_test_alert  # httpx only when a test is sent

    receiver = next((a for a in context().cfg.alerts if a.name == name), None)
    if receiver is None:
        return {"name": name[:40], "ok": False, "result": "未保存的接收方 not a saved receiver"}
    try:
        ok, result = send_test_alert(context().cfg, receiver, current_user().name, time.time())
    except OSError as exc:  # a secret file unreadable
        ok, result = False, f"{type(exc).__name__}: {exc}"
    audit("alert_test", receiver=name, ok=ok, result=result[:200])
    return {"name": name, "ok": ok, "result": result}
