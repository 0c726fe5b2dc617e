"""The Flask app factory: configuration, the signed session, CSRF, security headers, the
message catalogue, and the blueprints (one per page, edge/web/views/).

Every route but sign-in, first set-up, static files and the supervisor's health probe
needs a session; pages redirect to sign-in, API calls get 401. A session ends after
``web.idle_minutes`` without a request, or when its account's password changes.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, abort, g, jsonify, redirect, render_template, request, \
    session, url_for

from werkzeug.routing import IntegerConverter
from werkzeug.wrappers import Response as WerkzeugResponse

from edge import __version__
from edge.config import EdgeConfig
from edge.record.index import Index
from edge.voice.library import MAX_UPLOAD_BYTES as MAX_ANNOUNCEMENT_BYTES
from edge.web.accounts import Accounts, User
from edge.web.context import Context
from edge.web.i18n import LANGUAGES, MESSAGES, for_scripts, translate
from edge.web.params import MAX_ID, ParamError, parse_day, parse_id, parse_month

OPEN_ENDPOINTS = {"auth.login", "auth.setup", "auth.language", "static", "healthz",
                  "push.worker", "push.manifest"}
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
       "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# the routes whose body may be larger than 1 MB: the right they need and how large
UPLOADS = {"system.update": ("system", lambda cfg: (cfg.update.max_bundle_mb << 20) + (1 << 16)),
           "broadcast.upload": ("broadcast", lambda cfg: MAX_ANNOUNCEMENT_BYTES + (1 << 16))}


def create_app(cfg: EdgeConfig, config_path: Path) -> Flask:
    app = Flask(__name__)
    ctx = Context(cfg, config_path)
    app.config.update(
        SECRET_KEY=ctx.secret_key(), SESSION_COOKIE_NAME="edge_session",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=bool(cfg.web.tls_cert), MAX_CONTENT_LENGTH=1 << 20,
        TEMPLATES_AUTO_RELOAD=False)
    app.extensions["edge"] = ctx
    app.url_map.converters["id"] = IdConverter  # before the blueprints' rules use it

    from edge.web.views import (
        alerts, auth, broadcast, compliance, counts, dashboard, discover, events, export, live,
        playback, ptz, push, rules, settings, system, users,
    )

    for module in (auth, dashboard, live, ptz, playback, events, counts, export, compliance,
                   settings, rules, alerts, discover, users, system, broadcast, push):
        app.register_blueprint(module.bp)
    app.before_request(_before)
    app.after_request(_headers)
    app.teardown_appcontext(_close_db)
    app.add_url_rule("/healthz", "healthz", lambda: Response("ok", mimetype="text/plain"))
    for code in (400, 403, 404, 413):
        app.register_error_handler(code, _error)
    app.register_error_handler(ParamError, _bad_param)
    app.jinja_env.globals.update(_=_t, label=_label, version=__version__, i18n_json=_i18n_json)
    app.context_processor(lambda: {"user": g.get("user"), "csrf": session.get("csrf", ""),
                                   "lang": _lang(), "node": cfg.node,
                                   "has_speakers": bool(cfg.speakers),
                                   "has_tripwires": any(c.tripwires for c in cfg.cameras),
                                   "other_lang": "en" if _lang() == "zh" else "zh"})
    return app


def context() -> Context:
    from flask import current_app

    ctx = current_app.extensions["edge"]
    assert isinstance(ctx, Context)
    return ctx


def db() -> Index:
    """This request's connection to edge.db (closed when the request ends)."""
    if "index" not in g:
        g.index = Index(context().cfg.data_dir, schema=False)
    return g.index  # type: ignore[no-any-return]


def accounts() -> Accounts:
    return Accounts(db().db)


def current_user() -> User:
    user = g.get("user")
    assert isinstance(user, User)
    return user


def audit(action: str, **detail: object) -> None:
    """Into the one audit log (统一日志) beside what GB/T 28181 and MQTT write."""
    user = g.get("user")
    detail.setdefault("ip", request.remote_addr)
    db().audit(f"web:{user.name if user else '-'}", action, **detail)


def require(action: str) -> None:
    if not current_user().may(action):
        abort(403)


def require_camera(channel: str) -> None:
    if context().cfg.camera(channel) is None:
        abort(404)
    if not current_user().sees(channel):
        abort(403)


def require_owner(channel: str) -> None:
    """The one rule for an object that belongs to a channel (an event, an alarm, a
    picture): a camera's objects for those who see that camera; the node's and the
    platforms' for those who see every camera. Otherwise 404, as for an object that does
    not exist, so IDs cannot be probed."""
    user = current_user()
    if context().cfg.camera(channel) is not None:
        if not user.sees(channel):
            abort(404)
    elif user.cameras is not None:
        abort(404)


def back(default: str) -> WerkzeugResponse:
    """Redirect to the page the request came from when it is this site's, else ``default``
    (a Referer naming another host is never followed)."""
    try:
        referrer = urlsplit(request.referrer or "")
    except ValueError:  # "http://[x": an unclosed IPv6 bracket
        return redirect(default)
    if referrer.netloc == request.host and referrer.scheme in ("http", "https"):
        return redirect(urlunsplit(("", "", referrer.path or "/", referrer.query, "")))
    return redirect(default)


def arg_day(name: str) -> tuple[float, float, str] | None:
    """A ``YYYY-MM-DD`` query argument of this era, or None; 400 with a message if bad."""
    return parse_day(request.args.get(name), context().cfg.node.timezone, name)


def arg_month(name: str) -> tuple[float, float, str] | None:
    return parse_month(request.args.get(name), context().cfg.node.timezone, name)


def arg_id(name: str) -> int | None:
    return parse_id(request.args.get(name), name)


def visible_cameras() -> list[Any]:
    user = current_user()
    return [c for c in context().cfg.cameras if user.sees(c.id)]


def _lang() -> str:
    lang = session.get("lang") or context().cfg.web.language
    return lang if lang in LANGUAGES else "zh"


def _t(key: str, **values: object) -> str:
    return translate(key, _lang(), **values)


def _label(prefix: str, key: str) -> str:
    """The catalogue's word for ``prefix + key``, else ``key`` itself (a new kind)."""
    return _t(prefix + key) if prefix + key in MESSAGES else key


def _i18n_json(*prefixes: str) -> dict[str, str]:
    return for_scripts(prefixes, _lang())


def _before() -> Any:
    session.permanent = False
    upload = UPLOADS.get(str(request.endpoint))
    try:  # a query or form that is not UTF-8 (no browser sends one) is refused here
        request.args  # noqa: B018 - parsed now, so that it fails here
        if not upload:  # an upload's body is read once the uploader is known to be an admin
            request.form  # noqa: B018
    except UnicodeDecodeError:
        abort(400)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    g.user = _session_user()
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS:
        if request.path.startswith("/api/"):
            return jsonify({"error": "login required"}), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if upload and g.user.may(upload[0]):  # a bundle, a sound file: megabytes, not a form's
        request.max_content_length = upload[1](context().cfg)
    if request.method in STATE_CHANGING:
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf", "")
        if not secrets.compare_digest(str(sent), str(session["csrf"])):
            abort(400, description="csrf")
    return None


def _session_user() -> User | None:
    """The user of this browser's server-side session: gone at sign-out, after
    ``web.idle_minutes`` without a request, ``web.session_hours`` after sign-in, when the
    account's password changes or it is disabled."""
    sid = session.get("sid")
    if not isinstance(sid, str):
        return None
    now, web = time.time(), context().cfg.web
    store = accounts()
    current = store.session(sid)
    user = store.by_id(current.user_id) if current else None
    notice = None
    if current is not None and now - current.seen_ts > web.idle_minutes * 60:
        notice = "login.idle"
    elif current is not None and now - current.created_ts > web.session_hours * 3600:
        notice = "login.expired"
    if current is None or user is None or user.disabled or notice \
            or user.session_gen != session.get("gen"):
        store.close_session(sid)
        session.pop("sid", None)
        session.pop("gen", None)
        if notice:
            session["notice"] = notice
        return None
    store.touch_session(current, now)
    return user


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:  # the box's HTTPS (first boot's pair): never plain HTTP again
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _close_db(_exc: BaseException | None) -> None:
    index = g.pop("index", None)
    if index is not None:
        index.close()


class IdConverter(IntegerConverter):
    """``<id:name>``: a row ID that fits SQLite's integer (a larger one is a 404)."""

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, max=MAX_ID)


def _bad_param(exc: ParamError) -> Any:
    if request.path.startswith("/api/"):
        return jsonify({"error": str(exc)}), 400
    return render_template("error.html", message=str(exc), code=400), 400


def _error(exc: Any) -> Any:
    code = getattr(exc, "code", 500)
    key = {400: "error.csrf" if getattr(exc, "description", "") == "csrf" else "error.forbidden",
           403: "error.forbidden", 404: "error.not_found",
           413: "error.too_large"}.get(code, "error.not_found")
    if request.path.startswith("/api/"):
        return jsonify({"error": _t(key)}), code
    return render_template("error.html", message=_t(key), code=code), code
