"""System (admin): version, uptime, the runners, recent log lines; restart edge or
reboot the box (confirmed and audited; the supervisor does it, on a signal)."""

from __future__ import annotations

import os
import signal
import time

from flask import Blueprint, abort, render_template, request

from edge import __version__
from edge.log import tail
from edge.web.app import audit, context, require

bp = Blueprint("system", __name__)
RESTART_SIGNAL = signal.SIGHUP  # edge/app.py: stop cleanly, start again in the same PID
REBOOT_SIGNAL = signal.SIGUSR2  # edge/app.py: stop cleanly, then node.reboot_command


@bp.route("/system")
def index() -> str:
    require("system")
    status = context().status()
    started = (status or {}).get("started_ts")
    return render_template("system.html", version=__version__, status=status,
                           uptime_s=time.time() - started if started else None,
                           lines=tail(context().cfg.data_dir), done=None)


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
                           else "sy.rebooting")
