"""Events and alarms: what the node recorded (camera offline/online, platform
registration, alarms, the disk, people and vehicles detected, lines crossed, stays),
filterable, each acknowledged with who and when (audited). A detection shows its picture
(the object cropped; the whole frame with its box on a click, audited) and a link to its
footage. Below them, the alert log: what was pushed to whose phone, and the answer."""

from __future__ import annotations

import time

from flask import Blueprint, abort, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

from edge.alerts.store import read_log
from edge.health.counts import WAYS
from edge.timefmt import format_time, local_day
from edge.web.app import arg_day, arg_id, audit, back, context, current_user, db, require, \
    require_owner, visible_cameras

bp = Blueprint("events", __name__)
KINDS = ("detection", "tripwire", "loitering", "parked", "camera_offline", "camera_online", "platform_registered",
         "platform_unregistered", "alarm_raised", "alarm_cleared", "disk_low", "disk_ok",
         "broadcast_started", "broadcast_ended")
LABELS = ("person", "vehicle", "two_wheeler")
OBJECT_KINDS = ("detection", "tripwire", "loitering", "parked")  # with a picture, a label
SNAPSHOTS = "snapshots"
PAGE = 100


def today(tz: str) -> tuple[float, float, str]:
    """[start, end) of the local day today."""
    return local_day(time.time(), tz)


def day_range() -> tuple[float, float, str, str]:
    """The ``from`` and ``to`` days of the query (``to`` defaults to ``from``, both to today)."""
    first = arg_day("from") or today(context().cfg.node.timezone)
    last = arg_day("to") or first
    return first[0], last[1], first[2], last[2]


@bp.route("/events")
def index() -> str:
    cfg = context().cfg
    tz = cfg.node.timezone
    start, end, first_day, last_day = day_range()
    cams = visible_cameras()
    channel = request.args.get("channel", "")
    kind = request.args.get("kind", "")
    allowed = [c.id for c in cams]
    if current_user().cameras is None:
        allowed += [p.id for p in cfg.platforms] + ["node"]
    channels = [channel] if channel in allowed else allowed
    before = arg_id("before")
    events = db().events(start, end, channels, [kind] if kind in KINDS else None,
                         request.args.get("open") == "1", PAGE, before)
    what = request.args.get("label", "")
    if what in LABELS:  # people only, say: a filter on the rows of one kind
        events = [e for e in events if e.kind not in OBJECT_KINDS or e.data.get("label") == what]
    alarms = [a for a in db().alarms() if a.channel_id in allowed]
    names = {c.id: c.name for c in cfg.cameras} | {p.id: p.id for p in cfg.platforms}
    older = None
    if len(events) == PAGE:
        older = url_for("events.index", **{**request.args.to_dict(), "before": events[-1].id})
    log = [entry for entry in read_log(cfg.data_dir, start, end, PAGE)
           if entry["alert"].get("camera_id") in allowed] if cfg.alerts else []
    return render_template("events.html", events=events, alarms=alarms, cameras=cams, log=log,
                           kinds=KINDS, labels=LABELS, what=what, channel=channel,
                           object_kinds=OBJECT_KINDS, ways=WAYS,
                           kind=kind, first_day=first_day,
                           last_day=last_day, names=names, older=older,
                           fmt=lambda ts: format_time(ts, tz) if ts else "")


@bp.route("/events/<id:event_id>/picture")
def picture(event_id: int) -> Response:
    """A detection's picture: ``?crop=1`` the object alone (the list shows it), else the
    whole frame with its box (audited: it shows the scene)."""
    event = db().event(event_id)
    if event is None or not event.snapshot_path:
        abort(404)
    require_owner(event.channel_id)
    folder = (context().cfg.data_dir / SNAPSHOTS).resolve()
    path = (context().cfg.data_dir / event.snapshot_path).resolve()
    if not path.is_relative_to(folder):
        abort(404)
    crop = request.args.get("crop") == "1"
    if crop:
        path = path.with_suffix(".crop.jpg")
    if not path.is_file():
        abort(404)
    if not crop:
        audit("event_picture", id=event_id, channel=event.channel_id)
    return send_file(path, mimetype="image/jpeg", max_age=3600)


@bp.route("/<any(events, alarms):kind>/<id:item_id>/ack", methods=["POST"])
def ack(kind: str, item_id: int) -> Response:
    """Acknowledged by whom and when (in the row, and in the audit log); only by those
    who may see the event's or alarm's channel."""
    require("ack")
    index = db()
    if kind == "events":
        event = index.event(item_id)
        channel = event.channel_id if event else None
    else:
        channel = next((a.channel_id for a in index.alarms(open_only=False) if a.id == item_id),
                       None)
    if channel is None:
        abort(404)
    require_owner(channel)
    done = (index.ack_event if kind == "events" else index.ack_alarm)(
        item_id, current_user().name, time.time())
    if not done:
        abort(404)
    audit("ack_event" if kind == "events" else "ack_alarm", id=item_id)
    return back(url_for("events.index"))
