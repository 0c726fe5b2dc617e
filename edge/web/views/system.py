"""System (admin): version, uptime, the runners, recent log lines; restart edge or
reboot the box (confirmed and audited; the supervisor does it, on a signal); upload a
signed update bundle (checked here, installed by edge-update.service: update/request.py)."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from flask import Blueprint, abort, render_template, request

from edge import __version__
from edge.log import tail
from edge.timefmt import format_time
from edge.update.bundle import BundleError
from edge.update.request import (BUSY, UpdateError, busy, read_state, submit, untaken,
                                 updates_dir)
from edge.web.app import audit, context, current_user, require

bp = Blueprint("system", __name__)
RESTART_SIGNAL = signal.SIGHUP  # edge/app.py: stop cleanly, start again in the same PID
REBOOT_SIGNAL = signal.SIGUSR2  # edge/app.py: stop cleanly, then node.reboot_command


@bp.route("/system")
def index() -> str:
    require("system")
    return _page()


def _page(done: str | None = None, problem: str | None = None) -> str:
    status = context().status()
    started = (status or {}).get("started_ts")
    data_dir = context().cfg.data_dir
    if problem is None and untaken(data_dir):
        problem = ("升级请求无人处理: edge-update.path 未运行 (systemctl enable --now edge-update.path) "
                   "the update request was not taken: edge-update.path is not running")
    return render_template("system.html", version=__version__, status=status,
                           uptime_s=time.time() - started if started else None,
                           lines=tail(data_dir), done=done, problem=problem,
                           update=read_state(data_dir), updating=busy(data_dir), busy_states=BUSY,
                           max_mb=context().cfg.update.max_bundle_mb,
                           fmt=lambda ts: format_time(ts, context().cfg.node.timezone))


@bp.route("/system/update", methods=["POST"])
def update() -> str:
    """A bundle uploaded by an admin: refused here if unsigned, tampered or a downgrade not
    asked for; otherwise handed to edge-update.service, which restarts edge."""
    require("system")  # app._before allowed admins a body of [update].max_bundle_mb
    cfg = context().cfg
    upload = request.files.get("bundle")
    confirmed = request.form.get("confirm") == "1"
    if upload is None or not upload.filename or not confirmed:
        abort(400)
    folder = updates_dir(cfg.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=".bundle")
    with os.fdopen(fd, "wb") as out:
        upload.save(out)
    try:
        manifest = submit(cfg, Path(name), request.form.get("allow_downgrade") == "1",
                          f"web:{current_user().name}")
    except (BundleError, UpdateError) as exc:
        audit("update_refused", bundle=upload.filename, reason=str(exc))
        return _page(problem=str(exc))
    audit("update_requested", bundle=upload.filename, version=manifest.version)
    return _page(done="sy.update_requested")


@bp.route("/system/<action>", methods=["POST"])
def act(action: str) -> str:
    require("system")
    supervisor = context().supervisor_pid  # the web process is a child of `edge run`
    if action not in ("restart", "reboot") or request.form.get("confirm") != "1" \
            or supervisor is None:
        abort(400)
    audit(f"system_{action}")
    os.kill(supervisor, RESTART_SIGNAL if action == "restart" else REBOOT_SIGNAL)
    return render_template("system.html", version=__version__, status=None, uptime_s=None,
                           lines=[], done="sy.restarting" if action == "restart"
                           else "sy.rebooting", problem=None, update=None, updating=False)
