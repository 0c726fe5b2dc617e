"""Carrying PTZ operations out on the cameras through ONVIF, one worker thread per dome.

Whoever asks (the cascade, the web UI, ``edge ptz``), the last command wins and nothing
wedges a dome: a move lasts only as long as its ``hold_s`` unless renewed (the dead-man
timer here on the box; the web pad renews every 0.4 s while pressed, so a lost "stop"
still ends the move within 1 s), and ContinuousMove carries the same timeout to the
camera, so even a box that dies mid-move leaves the dome still. Tours over presets
(cruise) and scans between two pan limits run here, for cameras that have none; any
other command ends them. A dome left alone returns to its home preset.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import onveef

from edge import config as config_mod
from edge.digits import is_digits
from edge.config import EdgeConfig
from edge.onvif.device import OnvifError, call, client
from edge.ptz.ops import (
    MAX_GROUP, MAX_PRESET, Aux, Cruise, DragZoom, Home, HomeSetting, Lens, Move, Op, Preset,
    PtzError, Scan, describe, relative,
)

logger = logging.getLogger(__name__)

HOLD_S = 1.0  # a move not renewed within this is stopped (the web pad's dead-man)
CASCADE_HOLD_S = 30.0  # platforms send one move and one stop: the stop may be lost on UDP
DEFAULT_DWELL_S = 10
MAX_TOUR_POINTS = 32
IDLE_CLIENT_S = 300.0  # a dome not steered for this long drops its connection


@dataclass(frozen=True, slots=True)
class Target:
    """How to reach one camera's PTZ."""

    camera_id: str
    endpoint: str
    user: str
    password: str
    home_preset: int = 0
    home_seconds: int = 0


@dataclass
class _Routine:
    """A cruise's or scan's settings on the box, per group number."""

    points: list[int] = field(default_factory=list)  # cruise: preset numbers
    dwell_s: int = DEFAULT_DWELL_S
    speed: int = 0  # 0: the camera's default
    left: float | None = None  # scan: pan limits (GetStatus positions)
    right: float | None = None


MAX_STATE_BYTES = 64 << 10


def save_routines(path: Path, cruises: dict[int, _Routine], scans: dict[int, _Routine]) -> None:
    """A dome's tours and scans, whole or not at all (a platform set them once and expects
    them after a restart, as from an NVR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(json.dumps({"cruises": {str(g): asdict(r) for g, r in cruises.items()},
                               "scans": {str(g): asdict(r) for g, r in scans.items()}}),
                   encoding="utf-8")
    os.replace(tmp, path)


def load_routines(path: Path, camera_id: str) -> tuple[dict[int, _Routine], dict[int, _Routine]]:
    """What ``save_routines`` kept; anything unreadable is left out and said."""
    try:
        if not path.exists():
            return {}, {}
        if path.stat().st_size > MAX_STATE_BYTES:
            raise ValueError(f"{path.stat().st_size} bytes")
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _routines(raw["cruises"]), _routines(raw["scans"])
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        logger.warning("camera=%s ptz: kept tours and scans in %s unreadable (%s): left out",
                       camera_id, path, exc)
        return {}, {}


def _routines(raw: Any) -> dict[int, _Routine]:
    return {int(g): _routine(r) for g, r in dict(raw).items()
            if is_digits(g) and len(g) <= 3 and 0 < int(g) <= MAX_GROUP}


def _routine(raw: Any) -> _Routine:
    points = [int(p) for p in raw["points"] if type(p) is int and 0 < p <= MAX_PRESET]
    bound = [raw.get(k) if type(raw.get(k)) is float and -1 <= raw[k] <= 1 else None
             for k in ("left", "right")]
    return _Routine(points[:MAX_TOUR_POINTS], max(1, min(int(raw["dwell_s"]), 3600)),
                    max(0, min(int(raw["speed"]), 255)), *bound)


def targets(cfg: EdgeConfig) -> Callable[[str], Target | None]:
    """Camera ID -> how to reach its PTZ, for the cameras with an ONVIF address."""
    def target(camera_id: str) -> Target | None:
        cam = cfg.camera(camera_id)
        if cam is None or not cam.onvif:
            return None
        user, password = config_mod.onvif_credentials(cam)
        return Target(cam.id, config_mod.onvif_endpoint(cam.onvif), user, password,
                      cam.home_preset, cam.home_seconds)
    return target


Report = Callable[[str, str, str, str | None], None]  # camera, actor, what, error


class Steering:
    """The domes of one process (the daemon or the web UI)."""

    def __init__(self, targets: Callable[[str], Target | None], report: Report | None = None,
                 connect: Callable[[Target], onveef.OnvifClient] | None = None,
                 state_dir: Path | None = None) -> None:
        self._targets = targets
        self._state_dir = state_dir  # the tours and scans set by a platform, kept
        self._report = report or (lambda *a: None)
        self._connect = connect or (lambda t: client(t.endpoint, t.user, t.password))
        self._domes: dict[str, _Dome] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, camera_id: str, op: Op, actor: str, hold_s: float = HOLD_S) -> None:
        """Queue ``op`` (non-blocking); PtzError when the camera cannot be steered."""
        self._dome(camera_id).put(op, actor, hold_s)

    def has_ptz(self, camera_id: str) -> bool | None:
        """What the camera's ONVIF profiles said (None: not asked yet, or unreachable)."""
        with self._lock:
            dome = self._domes.get(camera_id)
        return dome.has_ptz if dome else None

    def survey(self, camera_ids: list[str]) -> None:
        """Ask each camera once, in the background, whether it has PTZ (for the catalog's
        PTZType and for refusing PTZ on a fixed camera at once)."""
        def ask() -> None:
            for camera_id in camera_ids:
                try:
                    self._dome(camera_id).learn()
                except (PtzError, OnvifError) as exc:
                    logger.info("camera=%s ptz: %s", camera_id, exc)
                except Exception:  # noqa: BLE001 — a survey must never take the daemon down
                    logger.exception("camera=%s ptz: survey failed", camera_id)

        if camera_ids:
            threading.Thread(target=ask, name="ptz-survey", daemon=True).start()

    def presets(self, camera_id: str) -> list[tuple[int, str]]:
        """The camera's presets with a GB/T 28181 number (named 1-255), synchronously."""
        return self._dome(camera_id).presets()

    def imaging(self, camera_id: str) -> bool | None:
        """Whether the dome has an imaging service (focus), once it was reached."""
        with self._lock:
            dome = self._domes.get(camera_id)
        return dome.imaging if dome else None

    def close(self, wait_s: float = 0.0) -> None:
        """Stop the workers once what they were given is done (waiting up to ``wait_s``)."""
        with self._lock:
            self._closed = True
            domes, self._domes = list(self._domes.values()), {}
        for dome in domes:
            dome.close()
        deadline = time.monotonic() + wait_s
        for dome in domes:
            dome.join(max(0.0, deadline - time.monotonic()))

    def _dome(self, camera_id: str) -> _Dome:
        target = self._targets(camera_id)
        if target is None:
            raise PtzError(f"{camera_id}: 该摄像机未配置 ONVIF, 不能控制云台 has no onvif address: "
                           "no PTZ")
        with self._lock:
            if self._closed:
                raise PtzError("steering is closed")
            dome = self._domes.get(camera_id)
            if dome is None or dome.target != target:  # new, or its settings changed
                if dome is not None:
                    dome.close()
                state = self._state_dir / f"{camera_id}.json" if self._state_dir else None
                dome = self._domes[camera_id] = _Dome(target, self._connect, self._report, state)
            return dome


class _Dome(threading.Thread):
    def __init__(self, target: Target, connect: Callable[[Target], onveef.OnvifClient],
                 report: Report, state: Path | None = None) -> None:
        super().__init__(name=f"ptz-{target.camera_id}", daemon=True)
        self.target = target
        self._connect = connect
        self._report = report
        self._queue: queue.Queue[tuple[Op, str, float] | None] = queue.Queue(maxsize=64)
        self._cam: onveef.OnvifClient | None = None
        self.has_ptz: bool | None = None
        self.imaging: bool | None = None
        self._profile = ""
        self._source = ""
        self._lock = threading.Lock()  # the client: the worker and presets() share it
        self._moving_until: float | None = None
        self._lens_until: float | None = None
        self._last_used = time.monotonic()
        self._home_due: float | None = None
        self._home_preset, self._home_seconds = target.home_preset, target.home_seconds
        self._cruises: dict[int, _Routine] = {}
        self._scans: dict[int, _Routine] = {}
        self._routine: Iterator[float] | None = None  # yields the seconds to the next step
        self._routine_at = 0.0
        self._state = state
        if state is not None:
            self._cruises, self._scans = load_routines(state, target.camera_id)
        self.start()

    # -- the callers' side -------------------------------------------------------------------
    def put(self, op: Op, actor: str, hold_s: float) -> None:
        try:
            self._queue.put_nowait((op, actor, hold_s))
        except queue.Full:
            raise PtzError(f"{self.target.camera_id}: 云台命令过多 too many PTZ commands queued") from None

    def learn(self) -> None:
        with self._lock:
            try:
                self._client()
            except PtzError:
                pass  # has_ptz is False now

    def presets(self) -> list[tuple[int, str]]:
        with self._lock:
            return sorted((n, name) for n, (_, name) in self._preset_map().items())

    def close(self) -> None:
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass

    # -- the worker --------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            item: tuple[Op, str, float] | None
            try:
                item = self._queue.get(timeout=self._wait())
                if item is None:
                    break
            except queue.Empty:
                item = None  # a timer is due
            try:
                with self._lock:
                    if item:
                        self._carry_out(*item)
                    self._timers()
            except (OnvifError, PtzError) as exc:
                if item:
                    self._report(self.target.camera_id, item[1], describe(item[0]), str(exc))
                logger.warning("camera=%s ptz: %s", self.target.camera_id, exc)
                if isinstance(exc, OnvifError):
                    self._drop_client()  # reconnect for the next command
            except Exception:  # noqa: BLE001 — one bad answer must not end the dome's worker
                logger.exception("camera=%s ptz: unexpected failure", self.target.camera_id)
                self._drop_client()
        self._drop_client()

    def _wait(self) -> float:
        now = time.monotonic()
        dues = [t for t in (self._moving_until, self._lens_until) if t is not None]
        if self._routine is not None:
            dues.append(self._routine_at)
        if self._home_due is not None:
            dues.append(self._home_due)
        if self._cam is not None:
            dues.append(self._last_used + IDLE_CLIENT_S)
        return max(0.01, min(dues) - now) if dues else 3600.0

    def _timers(self) -> None:
        now = time.monotonic()
        if self._moving_until is not None and now >= self._moving_until:
            self._moving_until = None
            self._ptz_stop()
            logger.info("camera=%s ptz: move not renewed: stopped", self.target.camera_id)
        if self._lens_until is not None and now >= self._lens_until:
            self._lens_until = None
            self._lens_stop()
        if self._routine is not None and now >= self._routine_at:
            step = next(self._routine, None)
            if step is None:
                self._routine = None
            else:
                self._routine_at = time.monotonic() + step
        if self._home_due is not None and now >= self._home_due:
            self._home_due = None  # once, until steered again
            if self._routine is None and self._moving_until is None and self._home_preset:
                self._goto(self._home_preset)
                logger.info("camera=%s ptz: idle for %d s: back to home preset %d",
                            self.target.camera_id, self._home_seconds, self._home_preset)
        if self._cam is not None and now >= self._last_used + IDLE_CLIENT_S:
            self._drop_client()

    def _carry_out(self, op: Op, actor: str, hold_s: float) -> None:
        self._last_used = time.monotonic()
        if self._home_preset and self._home_seconds:
            self._home_due = self._last_used + self._home_seconds
        if not isinstance(op, (Cruise, Scan)) or op.op == "start":
            self._routine = None  # any other command ends a tour or a scan
        if isinstance(op, Move):
            if op.is_stop:
                self._moving_until = None
                self._ptz_stop()
            else:
                cam, profile = self._client()
                call(self._where, "ContinuousMove", lambda: cam.ptz_continuous_move(
                    profile_token=profile, pan=op.pan, tilt=op.tilt, zoom=op.zoom,
                    timeout=f"PT{max(1, round(hold_s))}S"))
                self._moving_until = time.monotonic() + hold_s
        elif isinstance(op, Lens):
            if op.iris:
                raise PtzError(f"{self.target.camera_id}: 光圈请在摄像机图像设置中调整 iris is "
                               "not steered continuously over ONVIF")
            if op.is_stop:
                self._lens_until = None
                self._lens_stop()
            else:
                cam, _ = self._client()
                call(self._where, "Imaging Move", lambda: cam.imaging_move(
                    video_source_token=self._source, focus_continuous=op.focus))
                self._lens_until = time.monotonic() + hold_s
        elif isinstance(op, Preset):
            self._preset(op)
        elif isinstance(op, HomeSetting):
            self._home_preset, self._home_seconds = (op.preset, op.seconds) if op.enabled else (0, 0)
            self._home_due = None
        elif isinstance(op, Home):
            if self._home_preset:
                self._goto(self._home_preset)
            else:
                cam, profile = self._client()
                call(self._where, "GotoHomePosition",
                     lambda: cam.ptz_goto_home_position(profile_token=profile))
        elif isinstance(op, Aux):
            cam, profile = self._client()
            data = f"tt:{'Wiper' if op.number == 1 else f'AuxOutput{op.number}'}|" \
                   f"{'On' if op.on else 'Off'}"
            call(self._where, "SendAuxiliaryCommand", lambda: cam.ptz_send_auxiliary_command(
                profile_token=profile, auxiliary_data=data))
        elif isinstance(op, DragZoom):
            cam, profile = self._client()
            pan, tilt, zoom = relative(op)
            call(self._where, "RelativeMove", lambda: cam.ptz_relative_move(
                profile_token=profile, pan=pan, tilt=tilt, zoom=zoom))
        elif isinstance(op, Cruise):
            self._cruise(op)
        elif isinstance(op, Scan):
            self._scan(op)
        if isinstance(op, (Cruise, Scan)) and op.op != "start" and self._state is not None:
            save_routines(self._state, self._cruises, self._scans)
        self._report(self.target.camera_id, actor, describe(op), None)

    # -- presets -------------------------------------------------------------------------------
    def _preset_map(self) -> dict[int, tuple[str, str]]:
        """GB number -> (ONVIF token, name): a preset named 1-255 (as we save them), else
        the camera's own in order for the ones named otherwise."""
        cam, profile = self._client()
        raw = call(self._where, "GetPresets", lambda: cam.ptz_get_presets(profile_token=profile))
        out: dict[int, tuple[str, str]] = {}
        for p in raw[:512]:
            token, name = str(p.get("token", ""))[:64], str(p.get("name", ""))[:64]
            if name.isascii() and name.isdigit() and 1 <= int(name) <= 255:
                out.setdefault(int(name), (token, name))
        free = (n for n in range(1, 256) if n not in out)
        for p in raw[:255]:
            token, name = str(p.get("token", ""))[:64], str(p.get("name", ""))[:64]
            if token and all(token != t for t, _ in out.values()):
                number = next(free, None)
                if number is None:
                    break
                out[number] = (token, name or token)
        return out

    def _preset(self, op: Preset) -> None:
        cam, profile = self._client()
        known = self._preset_map()
        if op.op == "set":
            token = known.get(op.number, ("", ""))[0]
            call(self._where, "SetPreset", lambda: cam.ptz_set_preset(
                profile_token=profile, preset_name=str(op.number), preset_token=token))
            return
        if op.number not in known:
            raise PtzError(f"{self.target.camera_id}: 没有预置位 {op.number} no preset {op.number}")
        token = known[op.number][0]
        if op.op == "call":
            call(self._where, "GotoPreset", lambda: cam.ptz_goto_preset(
                profile_token=profile, preset_token=token))
        else:
            call(self._where, "RemovePreset", lambda: cam.ptz_remove_preset(
                profile_token=profile, preset_token=token))

    def _goto(self, number: int) -> None:
        self._preset(Preset("call", number))

    # -- cruise and scan, run here ---------------------------------------------------------------
    def _cruise(self, op: Cruise) -> None:
        tour = self._cruises.setdefault(op.group, _Routine())
        if op.op == "add":
            if len(tour.points) >= MAX_TOUR_POINTS:
                raise PtzError(f"巡航 {op.group} 已有 {MAX_TOUR_POINTS} 个点 tour is full")
            tour.points.append(op.value)
        elif op.op == "delete":
            tour.points = [] if op.value == 0 else [p for p in tour.points if p != op.value]
        elif op.op == "dwell":
            tour.dwell_s = max(1, op.value)
        elif op.op == "speed":
            tour.speed = op.value
        elif op.op == "start":
            if not tour.points:
                raise PtzError(f"巡航 {op.group} 没有预置点 tour {op.group} has no presets")
            self._routine, self._routine_at = self._touring(tour), time.monotonic()

    def _touring(self, tour: _Routine) -> Iterator[float]:
        while tour.points:
            for number in list(tour.points):
                self._goto(number)
                yield float(tour.dwell_s)

    def _scan(self, op: Scan) -> None:
        scan = self._scans.setdefault(op.group, _Routine())
        if op.op in ("left", "right"):
            cam, profile = self._client()
            status = call(self._where, "GetStatus",
                          lambda: cam.ptz_get_status(profile_token=profile))
            pan = status.get("pan") if isinstance(status, dict) else None
            if not isinstance(pan, float):
                raise PtzError(f"{self.target.camera_id}: 摄像机不报告位置 the camera reports no "
                               "position: no scan limits")
            setattr(scan, op.op, pan)
        elif op.op == "speed":
            scan.speed = op.value
        elif op.op == "start":
            if scan.left is None or scan.right is None:
                raise PtzError(f"扫描 {op.group} 未设左右边界 scan {op.group} has no limits set")
            self._routine, self._routine_at = self._scanning(scan), time.monotonic()

    def _scanning(self, scan: _Routine) -> Iterator[float]:
        cam, profile = self._client()
        status = call(self._where, "GetStatus", lambda: cam.ptz_get_status(profile_token=profile))
        tilt = status.get("tilt") if isinstance(status, dict) else None
        speed = min(1.0, scan.speed / 255) if scan.speed else None
        while True:
            for pan in (scan.left, scan.right):
                call(self._where, "AbsoluteMove", lambda: cam.ptz_absolute_move(
                    profile_token=profile, pan=pan, tilt=tilt if isinstance(tilt, float) else 0.0,
                    zoom=None, speed_pan=speed, speed_tilt=speed))
                yield float(scan.dwell_s)

    # -- the connection ------------------------------------------------------------------------
    @property
    def _where(self) -> str:
        return f"camera {self.target.camera_id} ({self.target.endpoint})"

    def _client(self) -> tuple[onveef.OnvifClient, str]:
        if self._cam is None:
            cam = self._connect(self.target)
            try:
                # every device has it: wrong credentials are said as such, not as a missing
                # media service (its discovery fails quietly on a refusal)
                call(self._where, "GetDeviceInformation", cam.get_device_information)
                found = call(self._where, "GetProfiles", cam.get_profiles)
            except OnvifError:
                cam.close()
                raise
            ptz = next((p for p in found if p.get("ptz")), None)
            self.has_ptz = ptz is not None
            if ptz is None:
                cam.close()
                raise PtzError(f"{self.target.camera_id}: 摄像机没有云台 the camera has no PTZ")
            self._cam, self._profile = cam, str(ptz.get("token", ""))
            self._source = str((ptz.get("video_source") or {}).get("source_token", ""))
            try:  # focus from the pad only where the camera has an imaging service
                self.imaging = "imaging" in call(self._where, "GetServices",
                                                 cam.discover_services)
            except OnvifError:
                self.imaging = None
        return self._cam, self._profile

    def _ptz_stop(self) -> None:
        cam, profile = self._client()
        call(self._where, "Stop", lambda: cam.ptz_stop(profile_token=profile))

    def _lens_stop(self) -> None:
        cam, _ = self._client()
        call(self._where, "Imaging Stop", lambda: cam.imaging_stop(video_source_token=self._source))

    def _drop_client(self) -> None:
        if self._cam is not None:
            try:
                self._cam.close()
            except Exception:  # noqa: BLE001 — closing a dead connection
                pass
            self._cam = None
