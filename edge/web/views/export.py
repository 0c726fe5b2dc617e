"""Export: a channel's range as MP4 by stream copy, or desensitised (faces blurred,
re-encoded) and/or watermarked, made by ``edge export`` in a child process with a
progress bar, downloaded by the browser. Every export is audited with who, what range and
the file's SHA-256, which the page shows so the file can be verified later. Exported files
are kept seven days."""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, \
    send_file, url_for

from edge.command import edge_argv
from edge.timefmt import format_time, parse_time
from edge.web.app import audit, context, current_user, require, require_camera, visible_cameras
from edge.web.context import Context

bp = Blueprint("export", __name__)
logger = logging.getLogger(__name__)
EXPORTS = "exports"
KEEP_S = 7 * 86_400.0
MAX_RANGE_S = 86_400.0


EXPORT_SLOTS = threading.Semaphore(1)  # exports running at once on the box
PER_USER = 3  # a user's exports running or queued


def _folder(ctx: Context | None = None) -> Path:
    folder = (ctx or context()).cfg.data_dir / EXPORTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _save(job: dict[str, Any], ctx: Context | None = None) -> None:
    path = _folder(ctx) / f"{job['id']}.json"
    path.with_suffix(".tmp").write_text(json.dumps(job, ensure_ascii=False))
    path.with_suffix(".tmp").replace(path)


def _jobs() -> list[dict[str, Any]]:
    now, out = time.time(), []
    for path in _folder().glob("*.json"):
        try:
            job = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if now - job.get("created", 0) > KEEP_S:  # seven days: the file goes too
            (_folder() / f"{job['id']}.mp4").unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            continue
        job.update(context().jobs.get(job["id"], {}))
        out.append(job)
    user = current_user()
    mine = [j for j in out if user.sees(j["channel"])]
    return sorted(mine, key=lambda j: j["created"], reverse=True)


def _run(ctx: Context, job: dict[str, Any], argv: list[str]) -> None:
    """The child's progress lines into the job, then its outcome into the job's file; one
    export at a time (a desensitised one keeps both cores of a small box busy), the others
    queued and shown so."""
    live = ctx.jobs.setdefault(job["id"], {"queued": True})
    job["state"], job["error"] = "failed", "internal error"
    EXPORT_SLOTS.acquire()
    live["queued"] = False
    try:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) as child:  # its pipes closed when it is done
            assert child.stdout is not None and child.stderr is not None
            for line in child.stdout:
                if line.startswith("progress "):
                    live["progress"] = float(line.split()[1])
                elif line.startswith("sha256 "):
                    job["sha256"] = line.split()[1]
            error = child.stderr.read().strip().splitlines()
            job["state"] = "done" if child.wait() == 0 else "failed"
        job["error"] = error[-1] if job["state"] == "failed" and error else None
    except Exception:  # the job fails, the web UI goes on
        logger.exception("export job=%s failed", job["id"])
    finally:
        EXPORT_SLOTS.release()
        out = _folder(ctx) / f"{job['id']}.mp4"
        job["bytes"] = out.stat().st_size if out.exists() else 0
        job["progress"] = 1.0
        _save(job, ctx)
        ctx.jobs.pop(job["id"], None)


@bp.route("/export", methods=["GET", "POST"])
def index() -> Response | str:
    require("export")
    ctx = context()
    tz = ctx.cfg.node.timezone
    problem = None
    if request.method == "POST":
        channel = request.form.get("channel", "")
        require_camera(channel)
        try:
            start = parse_time(request.form.get("from", ""), tz)
            end = parse_time(request.form.get("to", ""), tz)
        except ValueError as exc:
            problem = str(exc)
        else:
            if not 0 < end - start <= MAX_RANGE_S:
                problem = "ex.bad_range"
            elif sum(j["state"] == "running" and j["user"] == current_user().name
                     for j in _jobs()) >= PER_USER:
                problem = "ex.too_many"
            else:
                return redirect(url_for("export.index", job=_start(channel, start, end)))
    now = time.time()
    return render_template(
        "export.html", cameras=visible_cameras(), jobs=_jobs(), problem=problem,
        channel=request.args.get("channel", ""),
        start=request.args.get("from") or format_time(now - 600, tz)[:16],
        end=request.args.get("to") or format_time(now - 60, tz)[:16],
        names={c.id: c.name for c in ctx.cfg.cameras}, fmt=lambda ts: format_time(ts, tz))


def _start(channel: str, start: float, end: float) -> str:
    ctx, user = context(), current_user()
    blur = bool(request.form.get("desensitise"))
    mark = bool(request.form.get("watermark"))
    job = {"id": secrets.token_hex(6), "channel": channel, "start": start, "end": end,
           "user": user.name, "created": time.time(), "desensitised": blur,
           "watermarked": mark, "state": "running", "sha256": None, "bytes": 0}
    _save(job)
    argv = edge_argv("--log-level", "WARNING", "export", "--config", str(ctx.config_path),
                     "--channel", channel, "--from", f"{start:.3f}", "--to", f"{end:.3f}",
                     "-o", str(_folder() / f"{job['id']}.mp4"), "--progress",
                     "--actor", f"web:{user.name}")
    if blur:
        argv.append("--desensitise")
    if mark:
        argv += ["--watermark", f"edge {ctx.cfg.node.id} op:{user.name}"]
    audit("export_start", job=job["id"], channel=channel, start=start, end=end,
          desensitised=blur, watermarked=mark)
    ctx.jobs[job["id"]] = {"queued": True}  # until _run has its turn (shown at once)
    threading.Thread(target=_run, args=(ctx, job, argv), name=f"export:{job['id']}",
                     daemon=True).start()
    return str(job["id"])


@bp.route("/api/export/<job_id>")
def status(job_id: str) -> Response:
    require("export")
    job = next((j for j in _jobs() if j["id"] == job_id), None)
    if job is None:
        abort(404)
    return jsonify(job)


@bp.route("/export/<job_id>/download")
def download(job_id: str) -> Response:
    require("export")
    job = next((j for j in _jobs() if j["id"] == job_id and j["state"] == "done"), None)
    if job is None:
        abort(404)
    tz = context().cfg.node.timezone
    name = (f"{job['channel']}_{format_time(job['start'], tz)}".replace(":", "").replace(" ", "_")
            + ("_desensitised" if job["desensitised"] else "") + ".mp4")
    audit("export_download", job=job_id, channel=job["channel"], sha256=job["sha256"])
    return send_file(_folder() / f"{job_id}.mp4", mimetype="video/mp4", as_attachment=True,
                     download_name=name)
