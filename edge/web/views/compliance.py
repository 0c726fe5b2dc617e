"""Compliance: the monthly assessment sheet (online rate, hours recorded, gaps, days kept
per camera; the key-area total against 98 %), as a page, a CSV and an A4 print."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template

from edge.health.availability import online_rate
from edge.health.compliance import Row, Totals, row, totals
from edge.health.history import History
from edge.onvif.clocks import ALARM_CAMERA_CLOCK
from edge.record.coverage import clip, merge_ranges
from edge.retention.policy import kept_days
from edge.web.app import arg_month, audit, context, db, require, visible_cameras
from edge.web.sheet import csv_text

bp = Blueprint("compliance", __name__)


def this_month(tz: str) -> tuple[float, float, str]:
    first = datetime.now(ZoneInfo(tz)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    after = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return first.timestamp(), after.timestamp(), first.strftime("%Y-%m")


def sheet() -> tuple[list[Row], Totals, str]:
    """The ``month`` of the query (default: this one)."""
    cfg = context().cfg
    start, end, label = arg_month("month") or this_month(cfg.node.timezone)
    now = time.time()
    end = min(end, now)
    index = db()
    history = History(cfg.data_dir, index.db)
    sessions = history.sessions(start)
    first_session = sessions[0][0] if sessions else now
    clock_faults: dict[str, int] = {}
    for alarm in index.alarms(open_only=False):
        if (alarm.kind == ALARM_CAMERA_CLOCK and alarm.raised_ts < end
                and (alarm.cleared_ts is None or alarm.cleared_ts >= start)):
            clock_faults[alarm.channel_id] = clock_faults.get(alarm.channel_id, 0) + 1
    rows = []
    for cam in visible_cameras():
        recorded = clip(merge_ranges(index.recorded_ranges(cam.id, start, end)), start, end)
        rows.append(row(cam.id, cam.name, cam.key_area,
                        online_rate(sessions, history.changes(cam.id, start), start, end,
                                    index.fault_periods(cam.id, start)),
                        recorded, start, end, kept_days(index.oldest(cam.id), now),
                        cam.legal_min_days(cfg.retention), kept_days(first_session, now),
                        clock_faults.get(cam.id, 0)))
    return rows, totals(rows), label


@bp.route("/compliance")
def index() -> str:
    require("compliance")
    rows, total, month = sheet()
    return render_template("compliance.html", rows=rows, total=total, month=month)


@bp.route("/compliance.csv")
def as_csv() -> Response:
    require("compliance")
    rows, total, month = sheet()
    lines: list[list[object]] = [[
        "通道编号 channel", "名称 name", "重点区域 key area", "在线率 online rate",
        "完好率 working rate", "统计小时 observed h", "录像小时 recorded h", "缺口 gaps",
        "保存天数 days kept", "法定天数 legal days", "完好 in order",
        "时钟未能校正 clock not corrected"]]
    for r in rows:
        lines.append([r.id, r.name, "是" if r.key_area else "否",
                      "" if r.online_rate is None else f"{r.online_rate:.4f}",
                      "" if r.working_rate is None else f"{r.working_rate:.4f}", r.observed_h,
                      r.recorded_h, r.gaps, r.days_kept, r.legal_min_days,
                      "" if r.in_order is None else ("是" if r.in_order else "否"),
                      r.clock_faults])
    lines += [[], ["重点区域完好率 key-area in order",
                   "" if total.key_in_order is None else f"{total.key_in_order:.4f}",
                   "目标 target 0.98"]]
    audit("compliance_export", month=month)
    return Response(csv_text(lines), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=compliance-{context().cfg.node.id}-"
                               f"{month}.csv"})
