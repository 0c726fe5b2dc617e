"""The live page's PTZ pad: through the daemon's dome workers (edge/ptz/service.py), for
those with the ``ptz`` right on the camera. A press is audited (统一日志); its renewals
(every 0.4 s while held, the box stops a move not renewed within 1 s) are not."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from edge.ptz import ops
from edge.ptz.service import ask
from edge.web.app import audit, context, require, require_camera

bp = Blueprint("ptz", __name__)


def _allowed(channel: str) -> None:
    require_camera(channel)
    require("ptz")


@bp.route("/api/ptz/<channel>", methods=["POST"])
def steer(channel: str) -> Response | tuple[Response, int]:
    _allowed(channel)
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    word, number, speed = body.get("action"), body.get("number", 0), body.get("speed", 4)
    if not (isinstance(word, str) and type(number) is int and type(speed) is int):
        return jsonify({"ok": False, "error": "action, number, speed"}), 400
    try:
        op = ops.action(word, number, speed)
    except ops.PtzError as exc:
        return jsonify({"ok": False, "error": str(exc)}), 400
    reply = ask(context().cfg.data_dir, {"channel": channel, "action": word, "number": number,
                                        "speed": speed})
    if not body.get("renew"):
        audit("ptz", channel=channel, op=ops.describe(op),
              **({} if reply.get("ok") else {"error": str(reply.get("error"))[:300]}))
    return jsonify(reply), 200 if reply.get("ok") else 409


@bp.route("/api/ptz/<channel>/presets")
def presets(channel: str) -> Response | tuple[Response, int]:
    _allowed(channel)
    reply = ask(context().cfg.data_dir, {"channel": channel, "action": "presets"})
    return jsonify(reply), 200 if reply.get("ok") else 409
