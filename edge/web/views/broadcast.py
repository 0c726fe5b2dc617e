"""广播 Broadcast: the village loudspeakers from the monitoring room, for those with the
``broadcast`` right — push-to-talk from the browser's microphone, announcements uploaded
once (transcoded on the box) and played now or on a schedule, and what played when.

Everything goes through the daemon's voice service (edge/voice/service.py), which owns
the speakers: the cascade's broadcast takes a speaker over from the room, the room's
talk from an announcement. Push-to-talk: the page sends 16-bit mono PCM at 8 kHz in
short POSTs; each talk session is one connection to the daemon, ended by the page, by
TALK_IDLE_S without audio, or by the speaker being taken.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, \
    send_file, url_for

from edge import localsock
from edge.config import SpeakerConfig
from edge.timefmt import format_time
from edge.voice.library import MAX_UPLOAD_BYTES, Library, LibraryError
from edge.voice.schedule import KINDS, MAX_REPEAT, ScheduleError
from edge.voice import evidence
from edge.voice.client import NAME, TALK_IDLE_S, ask
from edge.web.app import audit, context, current_user, db, require

bp = Blueprint("broadcast", __name__)
MAX_CHUNK = 64 * 1024  # PCM of one push-to-talk POST: 4 s at most
HISTORY_ACTIONS = ("broadcast", "broadcast_end", "talk", "talk_end", "announcement",
                   "announcement_end", "broadcast_stop")
_ID = re.compile(r"[0-9a-f]{12}")
EVIDENCE_LISTED = 50


@dataclass
class _Talk:
    user: str
    sock: socket.socket
    last: float
    lock: threading.Lock


_talks: dict[str, _Talk] = {}
_talks_lock = threading.Lock()


def _library() -> Library:
    return Library(context().cfg.data_dir)


@bp.route("/broadcast")
def index() -> str:
    require("broadcast")
    return _page()


def _page(problem: str | None = None, done: str | None = None) -> str:
    cfg = context().cfg
    status = ask(cfg.data_dir, {"action": "status"}, timeout_s=3.0) if cfg.speakers else None
    library = _library()
    names = {a.id: a.name for a in library.announcements()}
    names_by_id = {s.id: s.name for s in cfg.speakers}  # an ID no longer configured: itself
    history = db().audit_log(start=time.time() - 7 * 86400, limit=1_000_000)
    history = [h for h in history if h[2] in HISTORY_ACTIONS][-60:][::-1]
    mine = {s.id for s in my_speakers()}
    return render_template(
        "broadcast.html", speakers=my_speakers(), status=status,
        speaker_names=lambda ids: ", ".join(names_by_id.get(i, str(i)) for i in ids),
        held={s["id"]: s["busy_with"] for s in (status or {}).get("speakers", [])},
        announcements=library.announcements(), schedules=library.schedules(), names=names,
        history=history, kinds=KINDS, max_repeat=MAX_REPEAT,
        max_mb=MAX_UPLOAD_BYTES >> 20, problem=problem, done=done,
        fmt=lambda ts: format_time(ts, cfg.node.timezone),
        recording=cfg.voice.record,
        evidence=evidence.listing(cfg.data_dir, mine, EVIDENCE_LISTED),
        kept=lambda rel: _kept(rel, mine))


def _kept(rel: object, speakers: set[str]) -> evidence.Evidence | None:
    """The recording an audit entry names, if it is still on the disk and this user's."""
    item = evidence.of_path(context().cfg.data_dir, rel) if isinstance(rel, str) else None
    return item if item is not None and item.speaker in speakers else None


@bp.route("/broadcast/evidence/<day>/<name>")
def evidence_file(day: str, name: str) -> Response:
    """A kept recording of a live broadcast; listening to it is audited (once per play:
    the browser's later range requests for the same play are not)."""
    require("broadcast")
    item = evidence.find(context().cfg.data_dir, day, name)
    if item is None or not current_user().sees(item.speaker):
        abort(404)
    if request.headers.get("Range", "bytes=0-").startswith("bytes=0-"):
        audit("voice_evidence", file=item.rel, speaker=item.speaker)
    return send_file(context().cfg.data_dir / item.rel, mimetype="audio/wav",
                     conditional=True, max_age=0)


def my_speakers() -> list[SpeakerConfig]:
    """The speakers this user may speak through (the same per-device list as cameras)."""
    user = current_user()
    return [s for s in context().cfg.speakers if user.sees(s.id)]


def _speakers_chosen() -> list[str]:
    known = {s.id for s in my_speakers()}
    return [s for s in request.form.getlist("speaker") if s in known]


@bp.route("/broadcast/upload", methods=["POST"])
def upload() -> str:
    require("broadcast")  # app._before allowed this route an announcement's bytes
    file = request.files.get("file")
    if file is None or not file.filename:
        abort(400)
    data = file.read(MAX_UPLOAD_BYTES + 1)
    try:
        item = _library().add(request.form.get("name") or file.filename, data,
                              current_user().name)
    except LibraryError as exc:
        audit("announcement_refused", file=file.filename[:100], reason=str(exc))
        return _page(problem=str(exc))
    audit("announcement_added", announcement=item.id, name=item.name, seconds=item.seconds)
    return _page(done="bc.uploaded")


@bp.route("/broadcast/<item>/<action>", methods=["POST"])
def act(item: str, action: str) -> Response | str:
    require("broadcast")
    if not _ID.fullmatch(item):
        abort(404)
    cfg = context().cfg
    library = _library()
    if action == "play":
        repeat = request.form.get("repeat", "1")
        if not (repeat.isascii() and repeat.isdigit() and 1 <= int(repeat) <= MAX_REPEAT):
            abort(400)
        reply = ask(cfg.data_dir, {"action": "announce", "announcement": item,
                                   "speakers": _speakers_chosen(), "repeat": int(repeat),
                                   "user": current_user().name})
        if not reply.get("ok"):
            return _page(problem=_refusal(reply))
        return _page(done="bc.playing")
    if action == "delete":
        try:
            library.delete(item)
        except LibraryError:
            abort(404)
        audit("announcement_deleted", announcement=item)
    elif action == "unschedule":
        if not library.delete_schedule(item):
            abort(404)
        audit("schedule_deleted", schedule=item)
    else:
        abort(404)
    return redirect(url_for("broadcast.index"))


@bp.route("/broadcast/schedule", methods=["POST"])
def schedule() -> str:
    require("broadcast")
    form = request.form
    repeat = form.get("repeat", "1")
    at = form.get("at", "").strip()
    if not (repeat.isascii() and repeat.isdigit() and len(repeat) <= 2):
        abort(400)
    try:
        item = _library().add_schedule(form.get("announcement", ""),
                                       tuple(_speakers_chosen()), form.get("kind", ""), at,
                                       int(repeat), current_user().name)
    except ScheduleError as exc:
        return _page(problem=str(exc))
    audit("schedule_added", schedule=item.id, announcement=item.announcement,
          speakers=list(item.speakers), kind=item.kind, at=item.at, repeat=item.repeat)
    return _page(done="bc.scheduled")


@bp.route("/broadcast/stop", methods=["POST"])
def stop() -> Response:
    require("broadcast")
    ask(context().cfg.data_dir, {"action": "stop", "speakers": _speakers_chosen(),
                                 "user": current_user().name})
    return redirect(url_for("broadcast.index"))


def _refusal(reply: dict[str, object]) -> str:
    refused = reply.get("refused")
    details = "; ".join(f"{k}: {v}" for k, v in refused.items()) \
        if isinstance(refused, dict) else ""
    return f"{reply.get('error', '')} {details}".strip()


# -- push-to-talk ---------------------------------------------------------------------


@bp.route("/api/broadcast/status")
def status() -> Response:
    require("broadcast")
    reply = ask(context().cfg.data_dir, {"action": "status"}, timeout_s=3.0)
    mine = {s.id for s in my_speakers()}
    reply["speakers"] = [s for s in reply.get("speakers", []) if s.get("id") in mine]
    return jsonify(reply)


@bp.route("/api/broadcast/talk", methods=["POST"])
def talk_start() -> tuple[Response, int]:
    require("broadcast")
    body = request.get_json(silent=True)
    speakers = body.get("speakers") if isinstance(body, dict) else None
    known = {s.id for s in my_speakers()}
    if not (isinstance(speakers, list) and speakers and all(s in known for s in speakers)):
        return jsonify({"ok": False, "error": "speakers"}), 400
    _sweep()
    user = current_user().name
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5.0)
    try:
        sock.connect(localsock.address(context().cfg.data_dir, NAME))
        sock.sendall(json.dumps({"action": "talk", "speakers": speakers, "user": user})
                     .encode() + b"\n")
        reply = localsock.read_line(sock)
    except (OSError, ValueError) as exc:
        sock.close()
        return jsonify({"ok": False, "error": f"广播服务不可用 the voice service is unavailable: "
                                              f"{exc}"}), 503
    if not reply.get("ok"):
        sock.close()
        return jsonify({**reply, "error": _refusal(reply)}), 409
    token = secrets.token_urlsafe(16)
    with _talks_lock:
        _talks[token] = _Talk(user, sock, time.monotonic(), threading.Lock())
    return jsonify({**reply, "token": token}), 200


@bp.route("/api/broadcast/talk/<token>", methods=["POST"])
def talk_audio(token: str) -> tuple[Response, int]:
    require("broadcast")
    talk = _own(token)
    data = request.get_data(cache=False)
    if len(data) > MAX_CHUNK or len(data) % 2:
        return jsonify({"ok": False, "error": "16-bit PCM, at most 64 KB a request"}), 400
    with talk.lock:
        try:
            talk.sock.sendall(data)
        except OSError:  # the daemon ended it: the speaker was taken, or it restarted
            _end(token)
            return jsonify({"ok": False, "error": "对讲已结束 the talk has ended"}), 410
        talk.last = time.monotonic()
    return jsonify({"ok": True}), 200


@bp.route("/api/broadcast/talk/<token>/end", methods=["POST"])
def talk_end(token: str) -> tuple[Response, int]:
    require("broadcast")
    _own(token)
    _end(token)
    return jsonify({"ok": True}), 200


def _own(token: str) -> _Talk:
    with _talks_lock:
        talk = _talks.get(token)
    if talk is None or talk.user != current_user().name:
        abort(404)
    return talk


def _end(token: str) -> None:
    with _talks_lock:
        talk = _talks.pop(token, None)
    if talk is not None:
        talk.sock.close()


def _sweep() -> None:
    """Talks whose page went away (the daemon has ended them after TALK_IDLE_S)."""
    now = time.monotonic()
    with _talks_lock:
        stale = [t for t, talk in _talks.items() if now - talk.last > TALK_IDLE_S]
    for token in stale:
        _end(token)
