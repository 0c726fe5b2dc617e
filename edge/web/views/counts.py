"""Counting (过线计数): each tripwire's crossings per hour of a day, per direction and kind of
object, for the cameras the user may see; the day's table as CSV (audited)."""

from __future__ import annotations

import time

from flask import Blueprint, render_template
from werkzeug.wrappers import Response

from edge.health.counts import WAYS, Count, by_hour
from edge.timefmt import local_day
from edge.web.app import arg_day, audit, context, db, visible_cameras
from edge.web.sheet import csv_text

bp = Blueprint("counts", __name__)


def day_counts() -> tuple[list[Count], str]:
    cfg = context().cfg
    start, end, day = arg_day("day") or local_day(time.time(), cfg.node.timezone)
    cams = [c.id for c in visible_cameras() if c.tripwires]
    return by_hour(db().crossings(start, end, cams), start), day


@bp.route("/counts")
def index() -> str:
    counts, day = day_counts()
    cams = [c for c in visible_cameras() if c.tripwires]
    return render_template("counts.html", counts=counts, day=day, cameras=cams, ways=WAYS,
                           names={c.id: c.name for c in cams})


@bp.route("/counts.csv")
def as_csv() -> Response:
    counts, day = day_counts()
    names = {c.id: c.name for c in visible_cameras()}
    rows: list[list[object]] = [[
        "日期 date", "摄像机编号 camera id", "摄像机 camera", "绊线 tripwire", "方向 direction",
        "类别 label", *[f"{h:02d}" for h in range(24)], "合计 total"]]
    rows += [[day, c.channel, names.get(c.channel, c.channel), c.tripwire,
              WAYS.get(c.direction, c.direction), c.label, *c.hours, c.total] for c in counts]
    audit("counts_csv", day=day)
    return Response(csv_text(rows), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=counts-{context().cfg.node.id}-{day}.csv"})
