"""Live view: grids of 1/4/9/16 tiles, each a camera's main or sub stream as fragmented
MP4 over one streamed HTTP response, from the same camera pull that records (through the
recorder's stream tap). No transcoding; a viewer that falls behind skips to a keyframe.
Every view is audited with its duration."""

from __future__ import annotations

import ctypes
import time
from typing import Iterator

from flask import Blueprint, Response, jsonify, render_template, request, stream_with_context

from edge.config import CameraConfig, SpeakerConfig, speaker_beside
from edge.errors import ProtocolError
from edge.ingest.media import Frame, StreamInfo
from edge.stream.fmp4 import Fmp4Writer
from edge.stream.tap import TapReader
from edge.web.app import audit, context, current_user, require_camera, visible_cameras
from edge.web.views.broadcast import my_speakers

_LIBC = ctypes.CDLL(None)
bp = Blueprint("live", __name__)
LAYOUTS = (1, 4, 9, 16)
FIRST_FRAME_WAIT_S = 8.0  # a sub stream pulled only now needs a few seconds
SILENT_CAMERA_S = 15.0  # nothing from the tap this long: end; the player reconnects
THUMB_WANT = "thumbs/{}.want"  # asks the thumbnail runner for fast refreshes


@bp.route("/live")
def index() -> str:
    layout = request.args.get("layout", type=int) or 4
    layout = layout if layout in LAYOUTS else 4
    cams = visible_cameras()
    chosen = [c for c in request.args.get("cams", "").split(",") if c]
    ids = {c.id for c in cams}
    tiles = [c for c in chosen if c in ids] or [c.id for c in cams]
    return render_template("live.html", layout=layout, cameras=cams,
                           tiles=(tiles + [""] * layout)[:layout], talk_to=_talk_to(cams))


def _talk_to(cams: list[CameraConfig]) -> dict[str, SpeakerConfig]:
    """The speaker each tile's push-to-talk speaks through: of those beside its camera that
    this user has the broadcast right on, the camera's own first."""
    user = current_user()
    if not user.may("broadcast"):
        return {}
    mine = my_speakers()
    near = {c.id: speaker_beside(mine, c.id) for c in cams}
    return {cam: s for cam, s in near.items() if s is not None}


def release_memory() -> None:
    """A stream's buffers back to the system now, not at the allocator's leisure: a page of
    16 tiles leaves the process tens of MB larger otherwise (glibc; elsewhere a no-op)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


@bp.route("/api/live/<channel>")
def stream(channel: str) -> Response:
    """The camera as fragmented MP4: ``X-Codecs`` names its codecs for
    ``MediaSource.isTypeSupported`` before the first byte of the body."""
    require_camera(channel)
    sub = request.args.get("stream") == "1"
    try:
        reader = TapReader(context().cfg.data_dir, channel, 1 if sub else 0,
                           timeout_s=FIRST_FRAME_WAIT_S)
    except OSError:
        return jsonify({"error": "recorder not running"}), 503
    try:
        info, first, records = _first_keyframe(reader)
    except (OSError, ProtocolError) as exc:
        reader.close()
        return jsonify({"error": f"camera offline: {exc}"}), 503
    writer = Fmp4Writer(info)
    try:
        init = writer.init(first.data)
    except ProtocolError as exc:
        reader.close()
        return jsonify({"error": str(exc)}), 415
    started = time.time()
    audit("live_view_start", channel=channel, stream="sub" if sub else "main")

    def body() -> Iterator[bytes]:
        try:
            yield init + writer.frame(True, True, first.data, first.t)
            reader.sock.settimeout(SILENT_CAMERA_S)
            for kind, item in records:
                if kind != "frame":  # the camera reconnected or left: the player starts again
                    return
                assert isinstance(item, Frame)
                chunk = writer.frame(item.video, item.keyframe, item.data, item.t)
                if chunk:
                    yield chunk
        except (OSError, ProtocolError):  # the camera fell silent or the recorder restarted
            return
        finally:
            reader.close()
            audit("live_view", channel=channel, stream="sub" if sub else "main",
                  seconds=round(time.time() - started, 1))
            release_memory()

    headers = {"X-Codecs": writer.codecs, "X-Video": info.video, "Cache-Control": "no-store",
               "X-Content-Type-Options": "nosniff"}
    return Response(stream_with_context(body()), mimetype="video/mp4", headers=headers)


def _first_keyframe(reader: TapReader) -> tuple[StreamInfo, Frame, Iterator[tuple[str, object]]]:
    """Read to the stream description and its first video keyframe."""
    records = reader.records()
    info: StreamInfo | None = None
    deadline = time.monotonic() + FIRST_FRAME_WAIT_S
    for kind, item in records:
        if kind == "info":
            assert isinstance(item, StreamInfo)
            info = item
        elif kind in ("gone", "error"):
            raise ProtocolError(str(item or "no stream"))
        elif kind == "frame" and info is not None:
            assert isinstance(item, Frame)
            if item.video and item.keyframe:
                return info, item, records  # type: ignore[return-value]
        if time.monotonic() > deadline:
            break
    raise ProtocolError("no keyframe in time")


@bp.route("/api/live/<channel>/want-snapshots", methods=["POST"])
def want_snapshots(channel: str) -> tuple[str, int]:
    """A tile that cannot play the stream shows snapshots: refresh them every second."""
    require_camera(channel)
    path = context().cfg.data_dir / THUMB_WANT.format(channel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return "", 204
