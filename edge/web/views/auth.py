"""Sign-in, sign-out, the first admin from the setup token, the language switch."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, redirect, render_template, request, session, \
    url_for

from edge.alerts.devices import PushDevices
from edge.timefmt import format_time
from edge.web.accounts import AccountError, User, setup_token
from edge.web.app import accounts, audit, context, db
from edge.web.i18n import LANGUAGES

bp = Blueprint("auth", __name__)


def _sign_in(user: User) -> Response:
    lang = session.get("lang")
    session.clear()  # a fresh session: nothing from before the sign-in survives
    now, web = time.time(), context().cfg.web
    store = accounts()
    store.prune_sessions(now, web.idle_minutes * 60, web.session_hours * 3600)
    sid = store.open_session(user.id, request.remote_addr or "",
                             request.headers.get("User-Agent", ""), now)
    session.update(sid=sid, gen=user.session_gen, csrf=secrets.token_urlsafe(24))
    if lang:
        session["lang"] = lang
    target = request.args.get("next") or "/"
    if urlsplit(target).netloc or not target.startswith("/"):  # never off this site
        target = "/"
    return redirect(target)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    error = session.pop("notice", None)
    if request.method == "POST":
        now = time.time()
        name = request.form.get("name", "").strip()[:64]
        if not context().login_allowed(request.remote_addr or "-", now):
            error = "login.slow"
            audit("login_rate_limited", name=name)
        else:
            user, outcome = accounts().verify(name, request.form.get("password", "")[:256], now,
                                              request.remote_addr or "-")
            if user is not None:
                db().audit(f"web:{user.name}", "login", ip=request.remote_addr)
                return _sign_in(user)
            # one answer for an unknown name, a wrong password, a disabled or locked account
            # (the audit log keeps which)
            error = "login.failed"
            audit("login_failed", name=name, reason=outcome)
    no_users = accounts().count() == 0
    return render_template("login.html", error=error, no_users=no_users)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Ends this session on the box too: a copy of the cookie is worth nothing after."""
    audit("logout")
    if isinstance(sid := session.get("sid"), str):
        accounts().close_session(sid)
    return _signed_out()


def _signed_out() -> Response:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
def account() -> Response | str:
    """The signed-in user's own sessions (where, since when, last seen), and "sign out
    everywhere" for a lost phone or a cookie that may have been copied; the devices that
    get alerts by Web Push (edge/web/views/push.py)."""
    user = g.user
    if request.method == "POST":
        ended = accounts().close_sessions(user.id)
        audit("logout_everywhere", sessions=ended)
        return _signed_out()
    receivers = [a.name for a in context().cfg.alerts if a.type == "webpush" and a.enabled
                 and (not a.users or user.name in a.users)]
    return render_template("account.html", sessions=accounts().sessions(user.id),
                           current=session.get("sid"), fmt=lambda ts: format_time(
                               ts, context().cfg.node.timezone),
                           devices=PushDevices(db().db).listed(user.id), receivers=receivers)


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> Response | str:
    """The first admin, with the token the daemon printed; gone once an account exists."""
    store = accounts()
    token = setup_token(context().cfg.data_dir, store)
    if token is None:
        return redirect(url_for("auth.login"))
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        if not secrets.compare_digest(request.form.get("token", "").strip(), token):
            error = "setup.bad_token"
            audit("setup_failed")
        elif password != request.form.get("confirm", ""):
            error = "setup.mismatch"
        else:
            try:
                user = store.add(request.form.get("name", "").strip(), password, "admin",
                                 now=time.time())
            except AccountError as exc:
                return render_template("setup.html", error=None, problem=str(exc))
            setup_token(context().cfg.data_dir, store)  # used up
            db().audit(f"web:{user.name}", "setup_admin", ip=request.remote_addr)
            return _sign_in(user)
    return render_template("setup.html", error=error, problem=None)


@bp.route("/lang/<code>", methods=["POST"])
def language(code: str) -> Response:
    if code in LANGUAGES:
        session["lang"] = code
    back = request.referrer or "/"
    return redirect(back if urlsplit(back).netloc in ("", request.host) else "/")
