"""Playback: a channel's day on a timeline (recorded ranges, gaps, events; zoomable to
minutes), played from any moment across segment boundaries as fragmented MP4 read by a
child process (``edge _replay``: this process has no PyAV). The timeline reads the
index's coverage table, so a day 60 days back answers as fast as today."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Iterator

from flask import Blueprint, Response, jsonify, render_template, request, stream_with_context

from edge.command import edge_argv
from edge.record.coverage import clip, merge_ranges
from edge.timefmt import format_time
from edge.web.app import arg_day, audit, context, db, require_camera, visible_cameras
from edge.web.views.events import today

bp = Blueprint("playback", __name__)
HEADER_WAIT_S = 15.0
MAX_WINDOW_S = 3 * 86_400.0


@bp.route("/playback")
def index() -> str:
    cfg = context().cfg
    cams = visible_cameras()
    channel = request.args.get("channel") or (cams[0].id if cams else "")
    if cams and channel not in {c.id for c in cams}:
        channel = cams[0].id
    start, end, day = arg_day("day") or today(cfg.node.timezone)
    oldest = db().oldest(channel) if channel else None
    return render_template("playback.html", cameras=cams, channel=channel, day=day,
                           day_start=start, day_end=end, at=request.args.get("at", ""),
                           oldest_day=format_time(oldest, cfg.node.timezone)[:10] if oldest
                           else day, today=today(cfg.node.timezone)[2])


def _number(name: str) -> float:
    value = request.args.get(name, "")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not (number == number and 1e9 < number < 1e10):  # NaN, or not a time of this era
        raise ValueError(name)
    return number


@bp.route("/api/timeline/<channel>")
def timeline(channel: str) -> Response | tuple[Response, int]:
    require_camera(channel)
    try:
        start, end = _number("from"), _number("to")
    except ValueError:
        return jsonify({"error": "from/to must be epoch seconds"}), 400
    end = min(end, start + MAX_WINDOW_S)
    index = db()
    ranges = clip(merge_ranges(index.recorded_ranges(channel, start, end)), start, end)
    events = index.events(start, end, [channel], limit=2000)
    return jsonify({"ranges": [[r.start, r.end] for r in ranges],
                    "events": [[e.ts, e.kind] for e in events], "oldest": index.oldest(channel)})


@bp.route("/api/playback/<channel>")
def stream(channel: str) -> Response | tuple[Response, int]:
    require_camera(channel)
    try:
        start = _number("start")
    except ValueError:
        return jsonify({"error": "start must be epoch seconds"}), 400
    ctx = context()
    child = subprocess.Popen(
        edge_argv("--log-level", "WARNING", "_replay", "--config", str(ctx.config_path),
                  "--channel", channel, "--from", repr(start)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    header = child.stdout.readline()
    if not header:
        _, err = child.communicate()  # it ended: no footage there (its reason on stderr)
        error = err.decode(errors="replace").strip().splitlines()[-1:]
        child.stdout.close()
        child.stderr.close()
        return jsonify({"error": (error or ["no footage"])[0]}), 404
    info = json.loads(header)
    began = time.time()
    audit("playback_start", channel=channel, start=start)

    def body() -> Iterator[bytes]:
        assert child.stdout is not None
        try:
            while chunk := child.stdout.read1(1 << 16):
                yield chunk
        finally:
            child.kill()
            child.communicate()
            child.stdout.close()
            child.stderr.close()
            audit("playback", channel=channel, start=start,
                  seconds=round(time.time() - began, 1))

    return Response(stream_with_context(body()), mimetype="video/mp4", headers={
        "X-Codecs": info["codecs"], "X-Video": info["video"], "X-Origin": repr(info["origin_ts"]),
        "Cache-Control": "no-store"})
