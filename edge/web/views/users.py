"""Users (admin): roles admin / operator / viewer, which cameras each may see; and the
audit log — sign-ins, failed sign-ins, live views with their duration, playbacks,
exports, acknowledgements, settings changes, and what GB/T 28181 platforms and MQTT did —
searchable and downloadable as CSV (统一日志)."""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from edge.digits import is_digits
from edge.timefmt import format_time
from edge.web.accounts import ROLES, AccountError
from edge.web.app import accounts, audit, context, db, require
from edge.web.sheet import csv_text
from edge.web.views.events import day_range

bp = Blueprint("users", __name__)


def _cameras_field() -> list[str] | None:
    if request.form.get("all_cameras"):
        return None
    cfg = context().cfg  # the cameras it may see, the loudspeakers it may speak through
    known = {c.id for c in cfg.cameras} | {s.id for s in cfg.speakers}
    return [c for c in request.form.getlist("cameras") if c in known]


@bp.route("/users", methods=["GET", "POST"])
def index() -> Response | str:
    require("users")
    store = accounts()
    problem = None
    if request.method == "POST":
        try:
            if request.form.get("id"):
                user = store.by_id(int(request.form["id"])) if is_digits(request.form["id"]) \
                    and len(request.form["id"]) < 10 else None
                if user is None:
                    abort(404)
                store.update(user.id, role=request.form.get("role", ""),
                             cameras=_cameras_field(),
                             disabled=bool(request.form.get("disabled")),
                             display=request.form.get("display", "").strip())
                if request.form.get("password"):
                    store.set_password(user.id, request.form["password"])
                audit("user_update", name=user.name, role=request.form.get("role"),
                      cameras=_cameras_field(), disabled=bool(request.form.get("disabled")),
                      password_changed=bool(request.form.get("password")))
            else:
                user = store.add(request.form.get("name", "").strip(),
                                 request.form.get("password", ""), request.form.get("role", ""),
                                 _cameras_field(), request.form.get("display", "").strip(),
                                 time.time())
                audit("user_add", name=user.name, role=user.role, cameras=user.cameras)
            return redirect(url_for("users.index"))
        except AccountError as exc:
            problem = str(exc)
    return render_template("users.html", users=store.all(), roles=ROLES,
                           cameras=context().cfg.cameras, speakers=context().cfg.speakers,
                           problem=problem, now=time.time())


def _audit_rows() -> list[tuple[float, str, str, dict[str, object]]]:
    start, end, _, _ = day_range()
    return db().audit_log(start, end, request.args.get("actor") or None,
                          request.args.get("action") or None, limit=20_000)


@bp.route("/audit")
def audit_page() -> str:
    require("audit")
    tz = context().cfg.node.timezone
    rows = list(reversed(_audit_rows()))  # newest first on screen
    _, _, first, last = day_range()
    return render_template("audit.html", rows=rows[:1000], total=len(rows), first_day=first,
                           last_day=last, fmt=lambda ts: format_time(ts, tz),
                           detail=lambda d: json.dumps(d, ensure_ascii=False))


@bp.route("/audit.csv")
def audit_csv() -> Response:
    require("audit")
    tz = context().cfg.node.timezone
    rows = [[format_time(ts, tz), actor, action, json.dumps(detail, ensure_ascii=False)]
            for ts, actor, action, detail in _audit_rows()]
    audit("audit_export", rows=len(rows))
    return Response(csv_text([["时间 time", "操作者 actor", "操作 action", "详情 detail"], *rows]),
                    mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=audit-{context().cfg.node.id}.csv"})
