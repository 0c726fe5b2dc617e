"""One camera's quality diagnosis in the detector process: a frame every
``quality.interval`` measured and judged (diagnosis.py), faults raised and cleared as
alarms in the index (the observer sends them on to MQTT, the web UI lists them), the
baseline kept (edge/quality/files.py) so a restart does not learn a degraded picture as
the usual one; the web UI's "accept the new view" makes it learn the camera again."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from edge.config import CameraConfig, QualityConfig
from edge.quality.diagnosis import MESSAGES, Baseline, Change, Diagnosis, QualitySettings
from edge.quality.files import accept_path, baseline_path
from edge.quality.metrics import measure
from edge.record.index import Index

logger = logging.getLogger(__name__)

SAVE_EVERY_S = 600.0
ALARM_PREFIX = "quality_"


class QualityWatch:
    def __init__(self, data_dir: Path, cam: CameraConfig, cfg: QualityConfig,
                 index: Callable[[], Index]) -> None:
        self.cam, self.cfg, self.index = cam, cfg, index
        self.accept = accept_path(data_dir, cam.id)
        self.baseline = baseline_path(data_dir, cam.id)
        self.diagnosis = Diagnosis(QualitySettings(onset=cfg.onset, clear=cfg.clear))
        self.diagnosis.baselines = self._load()
        self.last_t = 0.0
        self.samples = 0
        self._saved_at = time.monotonic()

    def due(self, t: float) -> bool:
        return t - self.last_t >= self.cfg.interval * 0.9  # keyframes come a little early

    def sample(self, rgb: np.ndarray, t: float) -> list[Change]:
        self.last_t = t
        if self.accept.exists():
            logger.info("camera=%s quality: the new view is accepted; learning it", self.cam.id)
            self.diagnosis.accept_view()
            self.accept.unlink(missing_ok=True)
            self.baseline.unlink(missing_ok=True)
        learned = len(self.diagnosis.baselines)
        changes = self.diagnosis.sample(measure(rgb))
        self.samples += 1
        now = time.time()
        if changes:
            index = self.index()
            with index.transaction():
                for change in changes:
                    kind = ALARM_PREFIX + change.fault
                    if change.raised:
                        index.raise_alarm(self.cam.id, kind, f"{MESSAGES[change.fault]}: "
                                          f"{change.detail}", now)
                    else:
                        index.clear_alarm(self.cam.id, kind, now)
            for change in changes:
                logger.warning("camera=%s quality: %s %s (%s)", self.cam.id, change.fault,
                               "raised" if change.raised else "cleared", change.detail)
        if len(self.diagnosis.baselines) != learned \
                or time.monotonic() - self._saved_at >= SAVE_EVERY_S:
            self._save()
        return changes

    def status(self) -> dict[str, object]:
        return {"samples": self.samples, "faults": sorted(self.diagnosis.open),
                "learned": sorted(self.diagnosis.baselines)}

    def _save(self) -> None:
        self._saved_at = time.monotonic()
        arrays: dict[str, np.ndarray] = {}
        for key, base in self.diagnosis.baselines.items():
            arrays[f"{key}_blocks"] = base.blocks
            arrays[f"{key}_edges"] = base.edges
            arrays[f"{key}_numbers"] = np.array([base.noise, *base.ab, base.samples])
        try:
            self.baseline.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.baseline.with_name("." + self.baseline.name)
            with tmp.open("wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, self.baseline)
        except OSError as exc:
            logger.warning("camera=%s quality baseline not saved: %s", self.cam.id, exc)

    def _load(self) -> dict[str, Baseline]:
        path = self.baseline
        if not path.exists():
            return {}
        try:
            with np.load(path) as data:
                out = {}
                for key in ("day", "night"):
                    if f"{key}_numbers" in data:
                        noise, a, b, samples = (float(v) for v in data[f"{key}_numbers"])
                        out[key] = Baseline(data[f"{key}_blocks"], noise, (a, b),
                                            data[f"{key}_edges"], int(samples))
                return out
        except (OSError, ValueError, KeyError) as exc:  # a broken file: learn again
            logger.warning("camera=%s quality baseline %s unreadable (%s); learning again",
                           self.cam.id, path, exc)
            return {}
