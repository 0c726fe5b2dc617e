"""Events and alarms: what the node recorded (camera offline/online, platform
registration, alarms, the disk), filterable, each acknowledged with who and when
(audited). Detection events (a later issue) land in the same table and show here."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from edge.timefmt import format_time
from edge.web.app import audit, context, current_user, db, require, visible_cameras

bp = Blueprint("events", __name__)
KINDS = ("camera_offline", "camera_online", "platform_registered", "platform_unregistered",
         "alarm_raised", "alarm_cleared", "disk_low", "disk_ok")
PAGE = 100


def day_bounds(day: str | None, tz: str) -> tuple[float, float, str]:
    """[start, end) of a local day given as YYYY-MM-DD (default: today)."""
    zone = ZoneInfo(tz)
    try:
        moment = datetime.strptime(day or "", "%Y-%m-%d").replace(tzinfo=zone)
    except ValueError:
        moment = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    nxt = moment + timedelta(days=1)
    return moment.timestamp(), nxt.timestamp(), moment.strftime("%Y-%m-%d")


@bp.route("/events")
def index() -> str:
    cfg = context().cfg
    tz = cfg.node.timezone
    start, _, first_day = day_bounds(request.args.get("from"), tz)
    _, end, last_day = day_bounds(request.args.get("to") or request.args.get("from"), tz)
    cams = visible_cameras()
    channel = request.args.get("channel", "")
    kind = request.args.get("kind", "")
    allowed = [c.id for c in cams]
    if current_user().cameras is None:
        allowed += [p.id for p in cfg.platforms] + ["node"]
    channels = [channel] if channel in allowed else allowed
    before = request.args.get("before", type=int)
    events = db().events(start, end, channels, [kind] if kind in KINDS else None,
                         request.args.get("open") == "1", PAGE, before)
    alarms = [a for a in db().alarms() if a.channel_id in allowed]
    names = {c.id: c.name for c in cfg.cameras} | {p.id: p.id for p in cfg.platforms}
    older = None
    if len(events) == PAGE:
        older = url_for("events.index", **{**request.args.to_dict(), "before": events[-1].id})
    return render_template("events.html", events=events, alarms=alarms, cameras=cams,
                           kinds=KINDS, channel=channel, kind=kind, first_day=first_day,
                           last_day=last_day, names=names, older=older,
                           fmt=lambda ts: format_time(ts, tz) if ts else "")


@bp.route("/<any(events, alarms):kind>/<int:item_id>/ack", methods=["POST"])
def ack(kind: str, item_id: int) -> Response:
    """Acknowledged by whom and when (in the row, and in the audit log)."""
    require("ack")
    index = db()
    done = (index.ack_event if kind == "events" else index.ack_alarm)(
        item_id, current_user().name, time.time())
    if not done:
        abort(404)
    audit("ack_event" if kind == "events" else "ack_alarm", id=item_id)
    return redirect(request.referrer or url_for("events.index"))
