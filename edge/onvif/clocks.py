"""The runner that keeps the ONVIF cameras' clocks (edge/onvif/clock.py): every
``[time].camera_check`` seconds it reads each camera's offset and corrects it; when a
camera is first seen and then daily it points it at the box's NTP. A clock it cannot read
or correct opens the camera's ``camera_clock`` alarm (the events page, MQTT, the
compliance sheet); a corrected one closes it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from edge import config as config_mod
from edge.config import CameraConfig, EdgeConfig
from edge.onvif.clock import CameraClock, keep, ntp_server
from edge.onvif.device import OnvifError, client
from edge.record.index import Index
from edge.runner import Runner, survive

logger = logging.getLogger(__name__)

ALARM_CAMERA_CLOCK = "camera_clock"
POINT_EVERY_S = 86_400.0


class CameraClocks(Runner):
    stale_after_s = 600.0  # a round waits on each camera in turn (seconds each at worst)

    def __init__(self, cfg: EdgeConfig, stop: threading.Event) -> None:
        super().__init__("clocks", stop)
        self.cfg = cfg
        self.clocks: dict[str, CameraClock] = {}
        self._pointed: dict[str, float] = {}

    def listing(self) -> dict[str, dict[str, Any]]:
        return {cid: asdict(c) for cid, c in list(self.clocks.items())}

    def loop(self) -> None:
        while not self.stop_event.is_set():
            index = Index(self.cfg.data_dir)
            try:
                for cam in self.cfg.cameras:
                    if cam.onvif and not self.stop_event.is_set():
                        with survive(logger, "camera=%s clock", cam.id):
                            self._check(cam, index)
                    self.beat()
            finally:
                index.close()
            self.beat()
            self.stop_event.wait(self.cfg.time.camera_check)

    def _check(self, cam: CameraConfig, index: Index) -> None:
        endpoint = config_mod.onvif_endpoint(cam.onvif)
        host = urlsplit(endpoint).hostname or ""
        now = time.time()
        point = now - self._pointed.get(cam.id, 0.0) >= POINT_EVERY_S
        user, password = config_mod.onvif_credentials(cam)
        try:
            clock = keep(client(endpoint, user, password), endpoint, cam.id,
                         self.cfg.time.camera_max_offset, self.cfg.node.timezone,
                         ntp_server(self.cfg.time.camera_ntp, host), point)
        except OnvifError as exc:
            clock = CameraClock(cam.id, None, now, error=f"摄像机时钟无法读取 the camera's clock "
                                                         f"cannot be read: {exc}")
        if point:
            self._pointed[cam.id] = now
        self.clocks[cam.id] = clock
        if clock.error and clock.offset_s is not None:  # an offline camera has its own alarm
            index.raise_alarm(cam.id, ALARM_CAMERA_CLOCK, clock.error, now)
            logger.warning("camera=%s clock: %s", cam.id, clock.error)
        elif not clock.error:
            index.clear_alarm(cam.id, ALARM_CAMERA_CLOCK, now)
            if clock.set_ts is not None:
                logger.info("camera=%s clock: set by the box, now %+.1f s", cam.id,
                            clock.offset_s or 0.0)


def with_clocks(cameras: list[dict[str, Any]], clocks: dict[str, dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """The recorder's camera states with each ONVIF camera's clock offset and error."""
    return [{**cam, "clock_offset_s": clocks[cam["id"]]["offset_s"],
             "clock_error": clocks[cam["id"]]["error"]} if cam.get("id") in clocks else cam
            for cam in cameras]
