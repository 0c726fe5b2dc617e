"""Alerts on this device (Web Push): the web UI as an installable app (its manifest and
service worker, open to all: they hold nothing secret and a browser re-fetches the worker
without a session), and each user's own devices: subscribe this browser with the box's
VAPID key, see the devices that get alerts and the push service's last answer, stop one.

Push needs a secure context (HTTPS, or the box opened as localhost): the page says so when
the browser refuses. What reaches the device is decided by the ``webpush`` receivers on the
alerts page (kinds, cameras, quiet hours) and by the user's own camera rights.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from importlib import resources
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from edge.alerts.devices import PushDevices
from edge.alerts.webpush import Device, PushError, b64url, public_bytes, unb64url, vapid_key
from edge.web.app import audit, context, current_user, db

bp = Blueprint("push", __name__)
MAX_ENDPOINT = 1000


@bp.route("/sw.js")
def worker() -> Response:
    script = resources.files("edge.web").joinpath("static/js/sw.js").read_text("utf-8")
    response = Response(script, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"  # a new version reaches phones at once
    return response


@bp.route("/manifest.webmanifest")
def manifest() -> Response:
    name = context().cfg.node.name or "edge"
    body = {"name": f"{name} 视频监控 monitoring", "short_name": name[:12], "start_url": "/",
            "scope": "/", "display": "standalone", "background_color": "#f4f5f7",
            "theme_color": "#b42318", "lang": "zh-CN",
            "icons": [{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml",
                       "purpose": "any"}]}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


@bp.route("/push/key")
def key() -> Response:
    return jsonify({"key": b64url(public_bytes(vapid_key(context().cfg.data_dir)))})


@bp.route("/push/subscribe", methods=["POST"])
def subscribe() -> tuple[Response, int] | Response:
    device = _device(request.get_json(silent=True))
    user = current_user()
    PushDevices(db().db).add(user.id, device, request.headers.get("User-Agent", ""),
                          time.time())
    audit("push_subscribe", push_service=urllib.parse.urlsplit(device.endpoint).netloc)
    return jsonify({"ok": True})


@bp.route("/push/unsubscribe", methods=["POST"])
def unsubscribe() -> Response:
    sent = request.get_json(silent=True)
    endpoint = sent.get("endpoint") if isinstance(sent, dict) else None
    if not isinstance(endpoint, str):
        abort(400, description="endpoint")
    removed = PushDevices(db().db).remove(endpoint, current_user().id)
    if removed:
        audit("push_unsubscribe", push_service=urllib.parse.urlsplit(endpoint).netloc)
    return jsonify({"ok": removed})


def _hostname(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:  # "https://pus]h.example": an unclosed IPv6 bracket
        return None


def _device(sent: Any) -> Device:
    """``PushSubscription.toJSON()`` as the browser sent it, checked: an https endpoint
    and keys of the sizes RFC 8291 gives (a 65-byte P-256 point, a 16-byte secret)."""
    if not isinstance(sent, dict) or not isinstance(sent.get("keys"), dict):
        abort(400, description="subscription")
    endpoint, keys = sent.get("endpoint"), sent["keys"]
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not (isinstance(endpoint, str) and endpoint.startswith("https://")
            and len(endpoint) <= MAX_ENDPOINT and _hostname(endpoint)):
        abort(400, description="endpoint: https:// URL")
    if not (isinstance(p256dh, str) and isinstance(auth, str)):
        abort(400, description="keys")
    try:
        if len(unb64url(p256dh)) != 65 or len(unb64url(auth)) != 16:
            abort(400, description="keys: sizes")
    except PushError:
        abort(400, description="keys: base64url")
    return Device(endpoint, p256dh, auth)
